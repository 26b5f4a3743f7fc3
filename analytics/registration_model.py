"""The 人来登记 score: a logistic model over the evidence that someone lives here unregistered.

Why a fitted model: the rule combines sources of different strength (days seen, nights stayed,
evening habits, a utility account in a stranger's name, a pass without an ID number); hand-added
weights gave scores that meant nothing. The weights here are fitted by maximum likelihood on
labelled cases and the fit is checked for calibration (a score of 0.7 should be right about 7 times
in 10), both reported by ``python -m analytics.registration_model`` and kept in
``analytics/models/registration.json`` beside the coefficients.

The labelled cases are lives as the street describes them (docs/ANALYTICS.md), drawn with their
natural spread, never the scenario library (that stays for judging): tenants and lodgers who live
here unregistered (daily, evenings and nights, over weeks), and the people who come but do not live
here — couriers and riders (daytime, many days), carers and cleaners (short daytime visits, one
dwelling), relatives and friends (a few days, now and then a night), one-off unknown faces, and a
utility account still in a former tenant's name.

Features (each in [0, 1]): days seen of 14, nights stayed (or evening sightings) of 14, the share of
passages in the evening or night (18:00–08:00 local), seen on one or two days only (a visit, however
late), three nights or more (the step from visiting to staying), a utility account in a name nobody registered there has, and a pass issued without an ID number
(the visits cannot be tied to one person).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).resolve().parent / "models" / "registration.json"
FEATURES = ("days", "nights", "evening_share", "one_or_two_days", "three_nights_or_more", "utility_new_name", "no_id_number")
WINDOW_DAYS = 14


@dataclass(frozen=True)
class Evidence:
    days: int            # distinct local days seen in the window
    nights: int          # nights stayed (came in, left on a later day), or evenings seen for an unknown face
    evening_share: float
    utility_new_name: bool = False
    no_id_number: bool = False

    def vector(self) -> np.ndarray:
        return np.array([
            min(self.days, WINDOW_DAYS) / WINDOW_DAYS, min(self.nights, WINDOW_DAYS) / WINDOW_DAYS,
            self.evening_share, float(1 <= self.days <= 2), float(self.nights >= 3), float(self.utility_new_name),
            float(self.no_id_number),
        ])


@cache
def coefficients() -> tuple[float, np.ndarray]:
    fitted = json.loads(MODEL_FILE.read_text())
    return fitted["intercept"], np.array([fitted["weights"][f] for f in FEATURES])


def score(evidence: Evidence) -> float:
    """The probability that this is someone living here unregistered."""
    intercept, weights = coefficients()
    z = intercept + float(weights @ evidence.vector())
    return 1.0 / (1.0 + math.exp(-z))


# --- the labelled cases and the fit -----------------------------------------------------------

def labelled_cases(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` lives drawn as described in the module docstring: features and labels (1 = lives here)."""
    rng = np.random.default_rng(seed)
    kinds = [  # (label, share, days range, nights as a share of days, evening share range, utility p, no-id p)
        (1, 0.14, (8, 14), (0.5, 1.0), (0.35, 0.9), 0.3, 0.0),   # tenant on a grant or a pass, never registered
        (1, 0.08, (3, 9), (0.5, 1.0), (0.5, 1.0), 0.2, 0.0),     # lodger seen only in the evenings (unknown face)
        (1, 0.05, (5, 12), (0.4, 1.0), (0.4, 0.9), 0.2, 1.0),    # overnight visitor on passes without an ID number
        (1, 0.04, (2, 5), (0.6, 1.0), (0.5, 1.0), 0.6, 0.0),     # moved in a few days ago, account in their name
        (0, 0.16, (4, 14), (0.0, 0.05), (0.0, 0.2), 0.05, 0.0),  # courier or rider, daytime, many days
        (0, 0.12, (4, 14), (0.0, 0.05), (0.0, 0.15), 0.05, 0.3),  # carer or cleaner, short daytime visits
        (0, 0.14, (1, 5), (0.0, 0.4), (0.1, 0.8), 0.05, 0.3),    # relative or friend, now and then a night
        (0, 0.15, (1, 2), (0.0, 0.5), (0.0, 1.0), 0.05, 0.2),    # a one-off unknown face, a single visit
        (0, 0.06, (0, 0), (0.0, 0.0), (0.0, 0.0), 1.0, 0.0),     # only a utility account in a former tenant's name
        (0, 0.06, (5, 10), (0.0, 0.2), (0.3, 0.7), 0.1, 0.0),    # evening class, choir, a friend's regular dinner
    ]
    shares = np.array([k[1] for k in kinds])
    which = rng.choice(len(kinds), size=n, p=shares / shares.sum())
    x, y = np.zeros((n, len(FEATURES))), np.zeros(n)
    for i, k in enumerate(which):
        label, _, (d0, d1), (n0, n1), (e0, e1), p_util, p_noid = kinds[k]
        days = int(rng.integers(d0, d1 + 1))
        nights = int(round(days * rng.uniform(n0, n1)))
        ev = Evidence(days, nights, float(rng.uniform(e0, e1)), bool(rng.random() < p_util), bool(rng.random() < p_noid))
        x[i], y[i] = ev.vector(), label
    flip = rng.random(n) < 0.03  # labels are never perfect: a few lives are not what they look like
    y[flip] = 1 - y[flip]
    return x, y


def fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton's method (IRLS); returns [intercept, weights...]."""
    a = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ beta))
        w = p * (1 - p)
        hessian = a.T @ (a * w[:, None]) + ridge * np.eye(a.shape[1])
        step = np.linalg.solve(hessian, a.T @ (y - p) - ridge * beta)
        beta += step
        if np.abs(step).max() < 1e-9:
            break
    return beta


def evaluate(beta: np.ndarray, x: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Fit and calibration on held-out cases: log loss, Brier score, AUC, reliability per score bin."""
    p = 1 / (1 + np.exp(-(beta[0] + x @ beta[1:])))
    eps = 1e-12
    log_loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    auc = float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))
    table, ece = [], 0.0
    for b in range(bins):
        inside = (p >= b / bins) & (p < (b + 1) / bins if b < bins - 1 else p <= 1)
        if inside.any():
            mean_p, rate = float(p[inside].mean()), float(y[inside].mean())
            ece += inside.mean() * abs(mean_p - rate)
            table.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(inside.sum()),
                          "mean_score": round(mean_p, 3), "observed_rate": round(rate, 3)})
    predicted = p >= 0.5
    return {"n": int(len(y)), "log_loss": round(log_loss, 4), "brier": round(float(np.mean((p - y) ** 2)), 4),
            "auc": round(auc, 4), "expected_calibration_error": round(float(ece), 4),
            "precision_at_0.5": round(float((predicted & pos).sum() / max(predicted.sum(), 1)), 4),
            "recall_at_0.5": round(float((predicted & pos).sum() / max(pos.sum(), 1)), 4), "reliability": table}


def refit(n: int = 20000, seed: int = 15) -> dict:
    """Fit on one draw, judge on another (held out), and return what goes into MODEL_FILE."""
    x, y = labelled_cases(n, seed)
    beta = fit(x, y)
    hx, hy = labelled_cases(n // 2, seed + 1)
    return {"features": list(FEATURES), "intercept": round(float(beta[0]), 4),
            "weights": {f: round(float(b), 4) for f, b in zip(FEATURES, beta[1:])},
            "fitted_on": {"cases": n, "seed": seed}, "held_out": evaluate(beta, hx, hy)}


if __name__ == "__main__":
    model = refit()
    MODEL_FILE.parent.mkdir(exist_ok=True)
    MODEL_FILE.write_text(json.dumps(model, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(model, ensure_ascii=False, indent=2))
