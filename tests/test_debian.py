from pathlib import Path

from codesift.data.debian import package_license


def test_license_of_the_package_that_installed_a_folder(tmp_path: Path):
    root = tmp_path / "gocode" / "src"
    module = root / "github.com" / "demo" / "x"
    info, doc = tmp_path / "dpkg-info", tmp_path / "doc"
    info.mkdir()
    (info / "golang-github-demo-x-dev.list").write_text(
        f"/.\n{root}\n{root / 'github.com'}\n{module}\n{module / 'go.mod'}\n{module / 'x.go'}\n"
    )
    (info / "other:amd64.list").write_text(f"{root / 'github.com' / 'other' / 'y.go'}\n")
    (doc / "golang-github-demo-x-dev").mkdir(parents=True)
    (doc / "golang-github-demo-x-dev" / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2020 Demo\nLicense: Expat\n"
    )
    assert package_license(module, root, info, doc) == "MIT"
    assert package_license(root / "github.com" / "other", root, info, doc) is None  # no copyright file
    assert package_license(root / "nowhere", root, info, doc) is None
