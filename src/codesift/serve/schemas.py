"""Request bodies, their limits, and how vectors are written into responses."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codesift.serve.errors import BadRequest, InvalidInput, TooLarge, describe_validation
from codesift.serve.search import Filters
from codesift.serve.settings import ServeSettings

InputType = Literal["query", "document"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenAIEmbeddingRequest(BaseModel):
    """POST /v1/embeddings, as OpenAI defines it; `input_type` is our extension (default: document)."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # OpenAI clients may send fields we do not use
    input: Any
    model: str | None = None
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    input_type: InputType = "document"
    user: str | None = None


class EmbedRequest(_Body):
    """POST /embed, the native route."""

    inputs: Any
    input_type: InputType = "document"
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"


class FiltersBody(_Body):
    """Each field takes one value or a list; `path` globs match the path relative to its root (`src/*`, `*.py`)."""

    repo: str | list[str] | None = None
    language: str | list[str] | None = None
    path: str | list[str] | None = None

    def to_filters(self) -> Filters:
        def tup(v: str | list[str] | None) -> tuple[str, ...]:
            return () if v is None else tuple(sorted({v} if isinstance(v, str) else set(v)))

        return Filters(tup(self.repo), tup(self.language), tup(self.path))


class SearchRequest(_Body):
    query: str
    top_k: int = Field(10, ge=1)
    filters: FiltersBody = FiltersBody()
    hybrid: bool | None = None  # None: the index's default


class UpdateRequest(_Body):
    paths: list[str] | None = None  # None: every indexed root


def parse(model: type[BaseModel], body: bytes) -> Any:
    """Validate a JSON body: 400 if it is not JSON, 422 naming each bad field otherwise."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise BadRequest(f"the body is not valid JSON: {e.errors()[0]['msg']}", code="invalid_json") from None
        raise InvalidInput(describe_validation(e), code="invalid_value") from None


def check_texts(value: Any, field: str, settings: ServeSettings) -> list[str]:
    """A string or a list of strings within the limits: items per request -> 413, characters per item -> 422."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list):
        raise InvalidInput(f"{field} must be a string or a list of strings, got {type(value).__name__}")
    if not texts:
        raise InvalidInput(f"{field} is an empty list; send at least one text")
    if len(texts) > settings.max_items:
        raise TooLarge(f"{field} has {len(texts)} items; the limit is {settings.max_items} per request "
                       "(split it into several requests)", code="too_many_items")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            kind = "token ids" if isinstance(text, int | list) else type(text).__name__
            raise InvalidInput(f"{field}[{i}] is {kind}; this server embeds strings only", code="invalid_type")
        if len(text) > settings.max_chars:
            raise InvalidInput(f"{field}[{i}] has {len(text)} characters; the limit is {settings.max_chars} per "
                               "item (longer texts are truncated to the model's window anyway: cut it before "
                               "sending)", code="item_too_long")
        if not text.strip():
            raise InvalidInput(f"{field}[{i}] is empty", code="empty_input")
    return texts


def check_dimensions(dimensions: int | None, dim: int) -> int:
    if dimensions is None:
        return dim
    if not 1 <= dimensions <= dim:
        raise InvalidInput(f"dimensions must be between 1 and {dim} (the model's size), got {dimensions}",
                           code="invalid_dimensions")
    return dimensions


def shape(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """Matryoshka truncation: keep the first `dimensions` coordinates and re-normalize to unit length."""
    if dimensions == vectors.shape[1]:
        return vectors
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.maximum(norms, 1e-12)


def encode_vector(vector: np.ndarray, fmt: str) -> list[float] | str:
    """float: a JSON list; base64: little-endian float32 bytes, which the OpenAI client decodes."""
    if fmt == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return vector.tolist()


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
