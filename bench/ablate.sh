#!/usr/bin/env bash
# Ingredient ablations for the contrastive stage (issue 6): each variant reuses a finished run's data, pairs,
# tokenizer and pretraining (hard links), changes one recipe value, and reruns train + eval.
#   bench/ablate.sh RECIPE BASE_RUN_DIR OUT_DIR [VARIANT...]   e.g. bench/ablate.sh recipes/tiny.yaml runs/e2e runs/abl
# (no VARIANT: all of them). Then: python bench/ablation_table.py OUT_DIR BASE_RUN_DIR
# UNTIL=export runs on to the int8 export, for the repository-search eval of each variant's export folder.
set -euo pipefail
until=${UNTIL:-eval}
recipe=$1 base=$2 out=$3
shift 3
only=" $* "
name=$(basename "$recipe" .yaml)
variant() {  # variant NAME [STAGE_TO_RERUN...] -- KEY=VALUE...
    local label=$1; shift
    [[ $only == "  " || $only == *" $label "* ]] || return 0
    local redo=()
    while [[ $1 != -- ]]; do redo+=("$1"); shift; done; shift
    local dir="$out/$label"
    rm -rf "$dir" && mkdir -p "$dir" && cp -al "$base/$name" "$dir/"
    rm -rf "$dir/$name"/{train,eval,export,index} "${redo[@]/#/$dir/$name/}"
    local sets=(); for kv in "$@"; do sets+=(--set "$kv"); done
    echo "== $label: $*"
    /usr/bin/time -f "$label: %e s wall" codesift run "$recipe" --run-dir "$dir" --until "$until" "${sets[@]}" \
        > "$dir.log" 2>&1
    tail -1 "$dir.log"
}
variant no-pretraining -- train.init=random
variant no-dobf pretrain -- pretrain.dobf_fraction=0
variant no-hard-negatives -- train.hard_negatives=0
variant consistency-top20 -- train.consistency_top_k=20
variant batch-32 -- train.batch_size=32 train.chunk_size=32 train.steps=120
variant batch-128 -- train.batch_size=128 train.steps=30
# the tokenizer variants retrain the tokenizer and everything after it; `retokenized` (whole names) is their control
variant retokenized tokenizer pretrain -- tokenizer.split_identifiers=false
variant split-identifiers tokenizer pretrain -- tokenizer.split_identifiers=true
variant retokenized-seed1 tokenizer pretrain -- tokenizer.split_identifiers=false seed=1
variant split-identifiers-seed1 tokenizer pretrain -- tokenizer.split_identifiers=true seed=1
# for recipes/static.yaml (with retokenized and no-hard-negatives above): a wider table; the same pairs seen in
# batches a quarter the size (four times the steps)
variant hidden-512 -- model.hidden=512
variant batch-1024 -- train.batch_size=1024 train.chunk_size=1024 train.steps=680
variant doc-in-code-0.6 -- train.doc_in_code_rate=0.6
variant steps-340 -- train.steps=340
variant no-fold-case -- model.fold_case=false
# static, more: every doc query in search style; fewer signature queries; a higher lr; every doc written into its code
variant query-style-1.0 -- train.query_style_rate=1.0
variant signature-body-0.3 -- "train.pair_type_weights={signature-body: 0.3}"
variant lr-0.1 -- train.lr=0.1
variant doc-in-code-1.0 -- train.doc_in_code_rate=1.0
# a second round on the pairs whose code the first round's model ranks in the top 20 for its query (CodeSage's
# consistency filter), all pairs ranked exactly, no mined negatives
variant consistency-top20-all -- train.rounds=2 train.hard_negatives=0 train.consistency_top_k=20 mine.pool_size=null mine.index=flat
# token cutoff: each code hides a random share of its tokens at every step (train.token_dropout)
variant token-dropout-0.2 -- train.token_dropout=0.2
# half the training pairs (a seeded sample), same steps: what more data would buy
variant half-pairs -- train.max_pairs=172905
# another seed end to end: data order, held-out split, initial table and batches (every stage reruns)
variant seed-1 -- seed=1
# issue 23, static: the search-shaped pair types (names, file docs, questions) built and drawn beside the docstring
# pairs; then one left out at a time (weight 0), more steps for the larger pair set, and a wider table
search=(pairs.types=[doc-body,signature-body,readme-file,identifier-def,doc-file,question-body])
weights="signature-body: 0.3, identifier-def: 0.3, doc-file: 1.0, question-body: 0.5"
variant search-pairs -- "${search[@]}" "train.pair_type_weights={$weights}"
variant search-pairs-no-identifier -- "${search[@]}" "train.pair_type_weights={$weights, identifier-def: 0}"
variant search-pairs-no-doc-file -- "${search[@]}" "train.pair_type_weights={$weights, doc-file: 0}"
variant search-pairs-no-question -- "${search[@]}" "train.pair_type_weights={$weights, question-body: 0}"
variant search-pairs-340 -- "${search[@]}" "train.pair_type_weights={$weights}" train.steps=340
variant search-pairs-340-512 -- "${search[@]}" "train.pair_type_weights={$weights}" train.steps=340 model.hidden=512 \
    "train.matryoshka_dims=[256]"
# same-repository runs of 16 pairs in each batch (train.repo_group); codes shown under the index's "path symbol"
# line half of the time (train.code_header_rate)
variant search-pairs-repo16 -- "${search[@]}" "train.pair_type_weights={$weights}" train.repo_group=16
variant search-pairs-header -- "${search[@]}" "train.pair_type_weights={$weights}" train.code_header_rate=0.5
# everything at once: the search pairs, same-repository runs, the index line, 1.5x the steps, a 512-dim table whose
# first 256 dims are trained too (Matryoshka)
variant search-all -- "${search[@]}" "train.pair_type_weights={$weights}" train.repo_group=16 \
    train.code_header_rate=0.5 train.steps=255 model.hidden=512 "train.matryoshka_dims=[256]"
# lighter weights for the new types, so the docstring pairs keep ~80% of the draws (base: a search-pairs run)
variant search-pairs-light -- "${search[@]}" \
    "train.pair_type_weights={signature-body: 0.3, identifier-def: 0.1, doc-file: 1.0, question-body: 0.2}"
# comments inside bodies -> the lines below them (issue 23, second session), steps raised so the docstring pairs keep
# their draws; the corpus with 92 more general-purpose libraries (every stage from data on reruns); a 512-dim table
# with its first 256 dims trained too; same-repository runs of 16 pairs; the search-shaped questions alone
variant comment-pairs -- "pairs.types=[doc-body,signature-body,readme-file,commit-body,comment-block]" \
    "train.pair_type_weights={signature-body: 0.3, comment-block: 1.0}" train.steps=230
variant more-libraries data pairs tokenizer -- data.corpus=runs/corpus-more.yaml
variant hidden-512-mrl -- model.hidden=512 "train.matryoshka_dims=[256]"
variant repo16 -- train.repo_group=16
variant steps-230 -- train.steps=230  # the control for the variants above that train 230 steps
variant question-pairs -- "pairs.types=[doc-body,signature-body,readme-file,commit-body,question-body]" \
    "train.pair_type_weights={signature-body: 0.3, question-body: 0.5}" train.steps=230
# the comment pairs in a 512-dim table (first 256 dims trained too): room for the new pairs beside the docstring ones?
variant comment-pairs-512 -- "pairs.types=[doc-body,signature-body,readme-file,commit-body,comment-block]" \
    "train.pair_type_weights={signature-body: 0.3, comment-block: 1.0}" train.steps=230 model.hidden=512 \
    "train.matryoshka_dims=[256]"
# the table initialized from token co-occurrence in the corpus (PPMI + truncated SVD, the pretrain stage); with the
# comment pairs; with 120M characters counted instead of 60M
variant cooc-init pretrain -- model.static_init=cooccurrence
variant cooc-init-comments pretrain -- model.static_init=cooccurrence \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,comment-block]" \
    "train.pair_type_weights={signature-body: 0.3, comment-block: 1.0}" train.steps=230
variant cooc-init-120m pretrain -- model.static_init=cooccurrence model.static_init_chars=120000000
variant cooc-init-lr0.02 pretrain -- model.static_init=cooccurrence train.lr=0.02  # move less from the start
# issue 23, third session: the comment pairs in batches of their own (no comment snippet is a docstring query's
# in-batch negative, nor the reverse)
variant cooc-init-comments-own pretrain -- model.static_init=cooccurrence \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,comment-block]" \
    "train.pair_type_weights={signature-body: 0.3, comment-block: 1.0}" train.steps=230 \
    "train.own_batch_types=[comment-block]"
# the co-occurrence sample with each unit's doc above its code where the code lacks it (Go, Rust, Java, JS/TS doc
# comments; Python docstrings are in the code already): run after that change, against cooc-init from before it
variant cooc-init-docs pretrain -- model.static_init=cooccurrence
# issue 23, fourth session (recipes/static.yaml now averages two models, train.soup): a third model for the soup,
# the search-shaped pairs (names, file docs, questions) in batches of their own, trained alone from the same table
variant search-own pairs -- "train.soup=[]" \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,identifier-def,doc-file,question-body]" \
    "train.pair_type_weights={signature-body: 0.3, identifier-def: 0.3, doc-file: 1.0, question-body: 0.5}" \
    "train.own_batch_types=[identifier-def,doc-file,question-body]"
# the soup's two models with another batch order (train.batch_seed): four-model soups of two orders
variant docs-b1 -- "train.soup=[]" "train.pair_type_weights={signature-body: 0.3, comment-block: 0.0}" train.batch_seed=1
variant own-b1 -- "train.soup=[]" "train.pair_type_weights={signature-body: 0.3, comment-block: 1.0}" train.steps=230 \
    "train.own_batch_types=[comment-block]" train.batch_seed=1
# the search-shaped model split in two (base: runs/v26/search-own, whose pairs hold all three types): questions
# alone, and names with file docs
variant questions-own -- "train.soup=[]" \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,identifier-def,doc-file,question-body]" \
    "train.pair_type_weights={signature-body: 0.3, identifier-def: 0.0, doc-file: 0.0, question-body: 0.5}" \
    "train.own_batch_types=[question-body]"
variant names-own -- "train.soup=[]" \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,identifier-def,doc-file,question-body]" \
    "train.pair_type_weights={signature-body: 0.3, identifier-def: 0.3, doc-file: 1.0, question-body: 0.0}" \
    "train.own_batch_types=[identifier-def,doc-file]"
# issue 23, fifth session (base: runs/v29/recipe, the three-model soup): a larger vocabulary (more whole English
# words and names as one token) and a wider table, each through the whole soup
variant vocab-49152 tokenizer pretrain -- tokenizer.vocab_size=49152
variant hidden-512-soup pretrain -- model.hidden=512
# the corpus with 92 more general-purpose libraries (base: runs/v24/more-libraries, whose data stage read it) under
# today's recipe: its pairs, tokenizer, co-occurrence table and soup rebuilt
variant more-libraries-soup pairs tokenizer pretrain -- data.corpus=runs/corpus-more.yaml
# the inflections of a word share its row (`model.fold_stems`: files -> file, sorting -> sort), in the
# co-occurrence counts and in training
variant fold-stems pretrain -- model.fold_stems=true
# issue 23, sixth session (base: runs/v29/recipe): the InfoNCE temperature of all three soup models
variant temp-0.03 -- train.temperature=0.03
variant temp-0.07 -- train.temperature=0.07
# the doc of the one function a short undocumented function calls -> that caller (`call-doc`), in the third soup
# model's batches of their own beside names and file docs; the other two models draw none
variant call-doc pairs -- \
    "pairs.types=[doc-body,signature-body,readme-file,commit-body,comment-block,identifier-def,doc-file,call-doc]" \
    "train.soup=[{weight: 1, set: {pair_type_weights: {signature-body: 0.3, comment-block: 0, identifier-def: 0, doc-file: 0, call-doc: 0}}}, {weight: 1, set: {steps: 230, own_batch_types: [comment-block], pair_type_weights: {signature-body: 0.3, comment-block: 1, identifier-def: 0, doc-file: 0, call-doc: 0}}}, {weight: 1, set: {own_batch_types: [identifier-def, doc-file, call-doc], pair_type_weights: {signature-body: 0.3, comment-block: 0, identifier-def: 0.3, doc-file: 1, call-doc: 1}}}]"
# the query->code direction of InfoNCE alone (no code->query term), all three soup models
variant one-way -- train.symmetric=false
variant temp-learned -- train.temperature=learned  # the temperature a trainable parameter (CLIP's logit scale)
# each code trained as the export embeds a document: plus its definition's doc and name vectors (document views)
variant train-views -- train.document_views.doc=0.65 train.document_views.name=0.4
# commit message -> changed definition pairs left out: the control for a recipe with git sources (same files,
# tokenizer input and held-out split; commit-body is not a held-out type)
variant no-commit-pairs pairs -- \
    "pairs.types=[doc-body, signature-body, readme-file, comment-block, identifier-def, doc-file]"
# commit pairs drawn by the soup's third model only, in batches of their own beside names and file docs
variant commits-own -- \
    "train.soup=[{weight: 1, set: {pair_type_weights: {signature-body: 0.3, comment-block: 0, identifier-def: 0, doc-file: 0, commit-body: 0}}}, {weight: 1, set: {steps: 230, own_batch_types: [comment-block], pair_type_weights: {signature-body: 0.3, comment-block: 1, identifier-def: 0, doc-file: 0, commit-body: 0}}}, {weight: 1, set: {own_batch_types: [identifier-def, doc-file, commit-body], pair_type_weights: {signature-body: 0.3, comment-block: 0, identifier-def: 0.3, doc-file: 1, commit-body: 1}}}]"
