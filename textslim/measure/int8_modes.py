"""The summary's INT8 scales section: which INT8 models got static activation scales and which dynamic ones, and
the figures quantize.mode auto chose on (textslim/compress/int8_choice.py)."""


def int8_mode_lines(records: dict[str, dict]) -> list[str]:
    """Which INT8 models have static activation scales (a text's answer does not depend on the texts batched with it)
    and which dynamic ones, and, where quantize.mode auto chose, the figures it chose on. records: INT8 model ->
    its quantize.json."""
    if not records:
        return []
    static = sorted(name for name, record in records.items() if record["mode"] == "static")
    lines = ["## INT8 scales: static or dynamic", "",
             f"{len(static)} of {len(records)} INT8 models have static activation scales, so a served text gets the "
             "same answer whatever it is batched with; the rest scale each call's activations (dynamic), so a "
             "text's answer can change with its batch (the flipped predictions above).", ""]
    chosen = {name: record["auto"] for name, record in records.items() if "auto" in record}
    if chosen:
        lines += ["`quantize.mode: auto` quantized each model both ways and kept static where, on the validation "
                  "split, it was at most `auto_max_drop_points` less accurate than dynamic, at most "
                  "`auto_max_slowdown` slower at batch 1 (the two timed interleaved) and its model file at most "
                  "`auto_max_growth` larger:", "",
                  "| model | kept | validation %, dynamic / static (static − dynamic) | batch-1 ms, dynamic / static "
                  "(static's extra) | model file MB, dynamic / static (static's extra) | what kept dynamic |",
                  "|:--|:--|:--|:--|:--|:--|"]
        for name, auto in sorted(chosen.items()):
            accuracy, ms = auto["validation_accuracy"], auto["batch1_ms"]
            binds = auto.get("binds") or "–"
            mb = auto.get("size_mb")  # quantize.json files written before the size limit have no sizes
            sizes = (f"{mb['dynamic']:.2f} / {mb['static']:.2f} ({mb['static'] / mb['dynamic'] - 1:+.1%})" if mb
                     else "–")
            lines.append(f"| {name} | {auto['mode']} | {100 * accuracy['dynamic']:.2f} / "
                         f"{100 * accuracy['static']:.2f} ({100 * (accuracy['static'] - accuracy['dynamic']):+.2f}) | "
                         f"{ms['dynamic']:.3f} / {ms['static']:.3f} ({ms['static'] / ms['dynamic'] - 1:+.1%}) | "
                         f"{sizes} | {binds} |")
        lines.append("")
    return lines
