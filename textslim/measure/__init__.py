"""Measuring what each step bought: evaluation, timing, the roofline, significance, seeds, studies, the report
and its plots."""
