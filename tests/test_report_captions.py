"""The caption table (barfi.analysis.captions) as Snakemake's HTML report reads it: the caption
template workflow/report/report.rst finds the same entry as `caption_of`, and the category,
subcategory and labels functions of the report rule give each file's place. (That the README
index reads the same table is tested in test_analysis.py.)"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from barfi.analysis.captions import (CAPTIONS, caption_of, html_captions, report_category,
                                     report_labels, report_subcategory)

REPO = Path(__file__).resolve().parents[1]
FIGURES = ["curves_gridworld_none_bootstrap", "curves_gridworld_center-bonus_se-ema",
           "gamma-phi_gridworld", "rphi-vs-primary_gridworld_none", "aux-return_gridworld",
           "sensitivity_gridworld_barfi-first-order", "phi-maps_gridworld_none",
           "diverged_cartpole", "overview_all_iqm", "overview_all_poi"]
TABLES = ["summary", "probability_of_improvement", "selected_configs", "diverged_counts",
          "diverged_runs", "claims"]


class Wildcards(dict):
    """What the caption template and the category functions see of Snakemake's wildcards."""

    __getattr__ = dict.__getitem__


def wildcards(name: str, table: bool) -> Wildcards:
    return Wildcards(table=name) if table else Wildcards(figure=name)


def html_caption(name: str, table: bool) -> str:
    template = jinja2.Template((REPO / "workflow" / "report" / "report.rst").read_text())

    class Snakemake:
        params = type("Params", (), {"captions": html_captions()})
    Snakemake.wildcards = wildcards(name, table)
    return template.render(snakemake=Snakemake).strip()


@pytest.mark.parametrize("name,table", [(f, False) for f in FIGURES] + [(t, True) for t in TABLES])
def test_html_caption_is_the_tables_entry(name, table):
    entry = caption_of(name)
    assert entry is not None and entry.html
    assert html_caption(name, table) == entry.html
    assert report_category(wildcards(name, table)) == entry.section


def test_the_two_curve_styles_have_their_own_captions():
    boot = html_caption("curves_gridworld_none_bootstrap", False)
    se = html_caption("curves_gridworld_none_se-ema", False)
    assert "bootstrap band" in boot and "standard error" in se and boot != se


def test_unknown_file_gets_a_pointer_to_the_readme():
    assert caption_of("novel_gridworld") is None
    text = html_caption("novel_gridworld", False)
    assert "novel_gridworld" in text and "README.md" in text
    assert report_category(wildcards("novel_gridworld", False)) == "Other figures"
    assert report_category(wildcards("novel", True)) == "Tables"


def test_place_of_a_file_in_the_html_report():
    w = wildcards("curves_gridworld_none_bootstrap", False)
    assert report_subcategory(w) == "gridworld"
    assert report_labels(w) == {"env": "gridworld", "figure": "none_bootstrap"}
    assert report_labels(wildcards("gamma-phi_gridworld", False)) == {"env": "gridworld",
                                                                       "figure": "gamma-phi"}
    assert report_subcategory(wildcards("summary", True)) is None
    assert report_labels(wildcards("summary", True)) == {"table": "summary"}


def test_every_template_field_is_filled_by_name():
    """An index template with a positional or misspelt field would fail only at report time."""
    import string

    for key, entry in CAPTIONS.items():
        for text in (entry.index, entry.title):
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
            assert all(f.isidentifier() for f in fields), (key, fields)
