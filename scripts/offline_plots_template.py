"""Build an HTML template for `dvc plots show` with vega, vega-lite and vega-embed inlined, so the page renders
with no network. dvc-render's default page loads those three from a CDN and is blank offline.

    python scripts/offline_plots_template.py build/plots-template.html

The libraries come from the npm registry (`npm pack`), at the versions dvc-render's page asks for.
"""

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LIBRARIES = {"vega@5.20.2": "vega.min.js", "vega-lite@5.2.0": "vega-lite.min.js",
             "vega-embed@6.18.2": "vega-embed.min.js"}

# No {scripts} placeholder: that is where dvc would put the CDN <script> tags.
PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  {refresh_tag}
  <title>textslim plots</title>
  <style>body {{ font-family: sans-serif; }} table {{ border-spacing: 15px; }}</style>
  {libraries}
</head>
<body>
  <h1>textslim plots</h1>
  {plot_divs}
</body>
</html>
"""


def main(out: str) -> None:
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, build_file in LIBRARIES.items():
            name = subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1]
            with tarfile.open(Path(tmp) / name) as archive:
                code = archive.extractfile(f"package/build/{build_file}").read().decode("utf-8")
            code = code.replace("</script", "<\\/script")  # a literal closing tag would end the inline script
            scripts.append(f"<script>/* {spec} */\n{code}\n</script>")
    # The page is filled with str.replace of the three placeholders, so braces in the libraries are harmless.
    page = PAGE.replace("{{", "{").replace("}}", "}").replace("{libraries}", "\n".join(scripts))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page, encoding="utf-8")
    print(f"wrote {out} ({len(page) / 1e6:.1f} MB, vega libraries inlined)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/plots-template.html")
