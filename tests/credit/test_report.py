"""The HTML validation report: standalone, honest numbers (out-of-fold), every value escaped."""

from __future__ import annotations

import base64
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from bnpl.credit import monitoring
from bnpl.credit.dataset import Dataset, german
from bnpl.credit.evaluate import metrics
from bnpl.credit.gbm import fit_gbm
from bnpl.credit.report import write_report
from bnpl.credit.scorecard import fit_scorecard

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
EVIL = "<script>alert('x')</script>"


@dataclass(frozen=True)
class Trained:
    model: Any
    ds: Dataset
    oof_pd: np.ndarray
    recent: pd.DataFrame


def _train(fit: Callable[[Dataset], Any]) -> Trained:
    """Fit on 400 German applicants, out-of-fold PDs from 3 folds; the other 600 are 'recent'."""
    full = german()
    rows = np.random.default_rng(5).permutation(len(full.bad))
    ds, rest = full.subset(np.sort(rows[:400])), full.subset(np.sort(rows[400:]))
    oof = np.zeros(len(ds.bad))
    for train, test in StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(ds.frame, ds.bad):
        oof[test] = fit(ds.subset(train)).predict_pd(ds.subset(test).frame)
    # tilt the recent population towards large loans so the PSI is not trivially zero
    big = rest.frame["credit_amount"] > rest.frame["credit_amount"].median()
    recent = pd.concat([rest.frame[big], rest.frame[big].head(150), rest.frame[~big].head(100)])
    return Trained(fit(ds), ds, oof, recent.reset_index(drop=True))


@pytest.fixture(scope="module")
def scorecard() -> Trained:
    return _train(fit_scorecard)


@pytest.fixture(scope="module")
def gbm() -> Trained:
    return _train(fit_gbm)


def _metadata(t: Trained) -> dict[str, Any]:
    return {
        "version": 7,
        "kind": t.model.kind,
        "dataset": t.ds.name,
        "features": list(t.ds.features),
        "training_window": "1973-01-01 to 1975-12-31",
        "fingerprint": t.ds.fingerprint,
        "metrics": {"auc": 0.7712, "ks": 0.43},
        "created_at": "2026-03-02T10:00:00+08:00",
        "note": EVIL,
    }


def _write(t: Trained, path: Path, recent: pd.DataFrame | None) -> str:
    out = write_report(
        path,
        title=f"Validation {t.model.kind} & <v7>",
        metadata=_metadata(t),
        model=t.model,
        ds=t.ds,
        oof_pd=t.oof_pd,
        recent=recent,
    )
    assert out == path and path.exists()
    return path.read_text(encoding="utf-8")


def _scale(pd_: np.ndarray) -> np.ndarray:
    """The report's 600 / 50:1 / 20 scale, computed here independently."""
    p = np.clip(pd_, 1e-12, 1 - 1e-12)
    return 600 + 20 / math.log(2) * (np.log((1 - p) / p) - math.log(50))


def _section(text: str, section_id: str) -> str:
    start = text.index(f'id="{section_id}"')
    end = text.find("</section>", start)
    return text[start:end]


def _printed(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, pattern
    return found.group(1)


def _check_common(text: str, t: Trained) -> None:
    # standalone: nothing fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert "<link" not in text and "<script" not in text.lower()
    # the pictures are real PNGs inline
    images = IMG.findall(text)
    assert len(images) >= 4
    for b64 in images:
        assert base64.b64decode(b64, validate=True).startswith(PNG_SIGNATURE)
    # headline metrics are the out-of-fold ones, printed to 4 places
    m = metrics(t.ds.bad, t.oof_pd)
    for key in ("auc", "ks", "brier"):
        assert _printed(rf'id="metric-{key}">([0-9.]+)<', text) == f"{m[key]:.4f}"
    assert _printed(r'id="metric-gini">([0-9.]+)<', text) == f"{2 * m['auc'] - 1:.4f}"
    # every value from data is escaped
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "Validation " + t.model.kind + " &amp; &lt;v7&gt;" in text
    assert t.ds.fingerprint in text


def test_scorecard_report(scorecard: Trained, tmp_path: Path) -> None:
    text = _write(scorecard, tmp_path / "scorecard.html", None)
    _check_common(text, scorecard)
    assert len(IMG.findall(text)) == 4  # no PSI picture without a recent population
    psi_html = _section(text, "psi")
    assert "PSI unavailable" in psi_html and "psi-value" not in psi_html
    # one bin table per characteristic, with its IV, highest IV first
    chars = scorecard.model.characteristics
    for c in chars:
        section = _section(text, f"char-{c.feature}")
        assert c.feature in section and f"{c.iv:.4f}" in section
        en, zh = scorecard.ds.label(c.feature)
        assert en in section and zh in section
        for a in c.attributes:
            assert f"{a.points:.1f}" in section and f"{a.woe:.4f}" in section
    order = [m.group(1) for m in re.finditer(r'class="characteristic" id="char-([^"]+)"', text)]
    assert order == [c.feature for c in sorted(chars, key=lambda c: -c.iv)]
    assert "支票账户状态" in text


def test_gbm_report(gbm: Trained, tmp_path: Path) -> None:
    text = _write(gbm, tmp_path / "gbm.html", None)
    _check_common(text, gbm)
    assert "PSI unavailable" in _section(text, "psi")
    importance = _section(text, "importance")
    gain = gbm.model.booster.feature_importance(importance_type="gain")
    for feature in gbm.model.features:
        assert f"<td>{feature}</td>" in importance
    top = gbm.model.features[int(np.argmax(gain))]
    assert importance.index(f"<td>{top}</td>") < min(
        importance.index(f"<td>{f}</td>") for f in gbm.model.features if f != top
    )
    assert 'class="characteristic"' not in text


@pytest.mark.parametrize("which", ["scorecard", "gbm"])
def test_psi_printed_is_the_psi_of_the_scores(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    t: Trained = request.getfixturevalue(which)
    text = _write(t, tmp_path / "with-recent.html", t.recent)
    _check_common(text, t)
    assert len(IMG.findall(text)) == 5
    if t.model.kind == "scorecard":
        train, recent = t.model.score_frame(t.ds.frame), t.model.score_frame(t.recent)
        np.testing.assert_allclose(train, _scale(t.model.predict_pd(t.ds.frame)), atol=1e-6)
    else:
        train, recent = _scale(t.model.predict_pd(t.ds.frame)), _scale(t.model.predict_pd(t.recent))
    expected = monitoring.psi(train, recent)
    assert expected > 0.01  # the tilted population really moved
    psi_html = _section(text, "psi")
    assert "unavailable" not in psi_html
    assert _printed(r'id="psi-value">([0-9.]+)<', psi_html) == f"{expected:.4f}"
    for row in monitoring.psi_table(train, recent):
        assert f'<td class="num">{row.contribution:.4f}</td>' in psi_html


def test_figures_are_closed(scorecard: Trained, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    for i in range(2):
        _write(scorecard, tmp_path / f"r{i}.html", scorecard.recent)
    assert len(plt.get_fignums()) == before


def test_bad_input_is_refused(scorecard: Trained, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows"):
        _write(
            Trained(scorecard.model, scorecard.ds, scorecard.oof_pd[:-1], scorecard.recent),
            tmp_path / "x",
            None,
        )
    bad_pd = scorecard.oof_pd.copy()
    bad_pd[0] = 1.5
    with pytest.raises(ValueError, match="probabilities"):
        _write(Trained(scorecard.model, scorecard.ds, bad_pd, scorecard.recent), tmp_path / "y", None)
    with pytest.raises(ValueError, match="recent"):
        _write(scorecard, tmp_path / "z", scorecard.recent.iloc[:0])


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import sys, bnpl.credit.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
