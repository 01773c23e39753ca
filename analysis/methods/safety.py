"""Safety: the core outcome set for infertility research, harms by arm and agent, and the benefit–harm balance.

The COMMIT core outcome set (Duffy et al., Hum Reprod 2020;35:2725) asks every infertility
trial for viable intrauterine pregnancy, pregnancy loss by type (biochemical, miscarriage,
ectopic, termination), live birth, gestational age at delivery, birthweight, neonatal mortality
and major congenital anomaly, with denominators per woman and a multiple pregnancy counted as
one pregnancy event. The functions here turn the optional pregnancy columns, the ``births`` and
``adverse_events`` tables of the data contract into those outcomes and their tables:

* :func:`pregnancy_outcomes`: one row per transfer with every core outcome as 0/1 (babies of one
  delivery folded into one pregnancy event: "any baby");
* :func:`core_outcome_table`: events, denominator, proportion and exact (Clopper–Pearson)
  interval per group, per transfer or per woman, each loss over its own denominator (per
  positive hCG, per clinical pregnancy, per live birth);
* :func:`harm_differences`: risk differences of each harm against no immunotherapy (by arm or by
  agent) with Newcombe's hybrid score interval;
* :func:`adverse_event_table`: adverse events by agent and severity, per 100 women treated with
  exact intervals;
* :func:`firth_rows`: rare outcomes by Firth's penalised logistic regression with profile
  penalised-likelihood intervals (:mod:`analysis.models.firth`);
* :func:`benefit_harm_table` and :func:`harm_checked_rule`: live birth gained against harm
  added per 100 women per profile group, and the benefit rule checked against harm.

Column names follow the disclosure rule (:mod:`analysis.output.disclosure`): counts are ``n``,
``n_*`` or ``*_n``; every number computed from counts (proportions, risk differences and their
limits) ends in ``_proportion``, so a row with a small count has them masked too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.data.contract import AGENTS, MISCARRIAGE_LOSS_TYPES, SEVERITIES
from analysis.data.growth import hadlock_centile_weight
from analysis.methods.proportions import clopper_pearson_interval, newcombe_difference_interval
from analysis.models.design import covariate_design
from analysis.models.firth import firth_profile_interval, fit_firth
from analysis.models.tidy import estimate_rows

__all__ = [
    "CORE_OUTCOMES",
    "PRETERM_DAYS",
    "VERY_PRETERM_DAYS",
    "adverse_event_table",
    "agent_indicators",
    "benefit_harm_table",
    "birthweight_table",
    "core_outcome_table",
    "firth_rows",
    "gestational_age_table",
    "harm_checked_rule",
    "harm_differences",
    "pregnancy_outcomes",
    "woman_outcomes",
]

PRETERM_DAYS = 259  # 37 completed weeks
VERY_PRETERM_DAYS = 224  # 32 completed weeks
LOW_BIRTHWEIGHT_G = 2500

#: The core outcomes and the denominator each is counted over: ``unit`` (every transfer or
#: woman of the group), ``positive_hcg``, ``clinical_pregnancy`` or ``live_birth``. An outcome
#: may appear with several denominators (miscarriage per positive hCG and per clinical pregnancy).
CORE_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("positive_hcg", "unit"),
    ("clinical_pregnancy", "unit"),
    ("viable_intrauterine_pregnancy", "unit"),
    ("live_birth", "unit"),
    ("biochemical_loss", "positive_hcg"),
    ("miscarriage", "positive_hcg"),
    ("miscarriage", "clinical_pregnancy"),
    ("miscarriage_second_trimester", "clinical_pregnancy"),
    ("ectopic_pregnancy", "clinical_pregnancy"),
    ("termination", "clinical_pregnancy"),
    ("any_pregnancy_loss", "positive_hcg"),
    ("multiple_pregnancy", "clinical_pregnancy"),
    ("preterm_birth", "unit"),
    ("preterm_birth", "live_birth"),
    ("very_preterm_birth", "live_birth"),
    ("low_birthweight", "live_birth"),
    ("small_for_gestational_age", "live_birth"),
    ("major_congenital_anomaly", "live_birth"),
    ("neonatal_death", "live_birth"),
    ("nicu_admission", "live_birth"),
)
#: Source columns each outcome needs (an outcome whose columns are absent is "not recorded").
_NEEDS = {
    "viable_intrauterine_pregnancy": ("pregnancy_location", "fetal_heartbeats"),
    "biochemical_loss": ("pregnancy_loss_type",),
    "miscarriage_second_trimester": ("pregnancy_loss_type",),
    "ectopic_pregnancy": ("pregnancy_loss_type",),
    "termination": ("pregnancy_loss_type",),
    "any_pregnancy_loss": ("pregnancy_loss_type",),
    "multiple_pregnancy": ("fetal_heartbeats",),
    "preterm_birth": ("gestational_age_days",),
    "very_preterm_birth": ("gestational_age_days",),
    "low_birthweight": ("births",),
    "small_for_gestational_age": ("births", "gestational_age_days"),
    "major_congenital_anomaly": ("births",),
    "neonatal_death": ("births",),
    "nicu_admission": ("births", "nicu_admission"),
}
_KEY = ["patient_id", "transfer_number"]


def _flag(values) -> pd.Series:
    """0/1 as float with missing kept (nullable booleans and 0/1 floats alike)."""
    return pd.to_numeric(pd.Series(values).astype("Float64"), errors="coerce").astype(float)


def agent_indicators(transfers: pd.DataFrame, agents: Sequence[str] = AGENTS) -> pd.DataFrame:
    """Return one 0/1 column ``agent_<name>`` per agent: the agent was among the transfer's agents.

    Parameters
    ----------
    transfers : DataFrame
        With ``treatment_agents`` (semicolon lists, empty for none).
    agents : sequence of str

    Returns
    -------
    DataFrame
        Indexed like ``transfers``.
    """
    # one split per distinct list of agents (a few dozen), not per transfer
    codes, lists = pd.factorize(transfers["treatment_agents"].fillna("").astype(str))
    given = [set(text.split(";")) for text in lists]
    table = np.array([[float(a in items) for a in agents] for items in given], dtype=float)
    return pd.DataFrame(
        table.reshape(len(given), len(agents))[codes], columns=[f"agent_{a}" for a in agents], index=transfers.index
    )


def pregnancy_outcomes(transfers: pd.DataFrame, births: pd.DataFrame | None) -> pd.DataFrame:
    """Return the transfers with every core outcome as a 0/1 column (NaN when unknown or not recorded).

    Parameters
    ----------
    transfers : DataFrame
        Cohort transfers (typed, as in :attr:`analysis.data.cohort.Cohort.transfers`).
    births : DataFrame or None
        One row per live-born baby; the babies of one transfer are one pregnancy event, so a
        baby outcome is "any baby of the delivery" (COMMIT).

    Returns
    -------
    DataFrame
        A copy of ``transfers`` with the outcome columns of :data:`CORE_OUTCOMES`, ``n_babies``
        and ``multiple_birth``, plus ``recorded``: the set of outcomes the data record (in
        ``.attrs["recorded"]``).
    """
    t = transfers.copy()
    cols = set(t.columns)
    have_births = births is not None
    known = t["live_birth"].notna()
    lb = _flag(t["live_birth"]).to_numpy()
    hcg = _flag(t["positive_hcg"]).to_numpy()
    cp = _flag(t["clinical_pregnancy"]).to_numpy()
    t["positive_hcg"] = hcg
    t["clinical_pregnancy"] = cp
    t["live_birth"] = lb
    unknown = ~known.to_numpy()
    if "pregnancy_loss_type" in cols:
        loss = t["pregnancy_loss_type"].astype("string")
        loss_known = loss.notna().to_numpy() | (hcg == 0)

        def by_type(*types):
            hit = loss.isin(types).fillna(False).to_numpy().astype(float)
            return np.where(loss_known & ~unknown, hit, np.nan)

        t["biochemical_loss"] = by_type("biochemical")
        t["miscarriage"] = by_type(*MISCARRIAGE_LOSS_TYPES)
        t["miscarriage_second_trimester"] = by_type("miscarriage_second_trimester")
        t["ectopic_pregnancy"] = by_type("ectopic")
        t["termination"] = by_type("termination")
        t["any_pregnancy_loss"] = by_type("biochemical", "ectopic", "stillbirth", *MISCARRIAGE_LOSS_TYPES)
    else:
        t["miscarriage"] = _flag(t["miscarriage"]).to_numpy()
    if "fetal_heartbeats" in cols:
        beats = pd.to_numeric(t["fetal_heartbeats"], errors="coerce").to_numpy(float)
        beats = np.where(np.isnan(beats) & (hcg == 0), 0.0, beats)
        t["multiple_pregnancy"] = np.where(np.isnan(beats), np.nan, (beats >= 2).astype(float))
        if "pregnancy_location" in cols:
            intrauterine = t["pregnancy_location"].isin(("intrauterine", "heterotopic")).fillna(False).to_numpy()
            t["viable_intrauterine_pregnancy"] = np.where(np.isnan(beats), np.nan, (intrauterine & (beats >= 1)) * 1.0)
    if "gestational_age_days" in cols:
        ga = pd.to_numeric(t["gestational_age_days"], errors="coerce").to_numpy(float)
        t["preterm_birth"] = np.where(unknown, np.nan, np.where(lb == 1, (ga < PRETERM_DAYS) * 1.0, 0.0))
        t["very_preterm_birth"] = np.where(unknown, np.nan, np.where(lb == 1, (ga < VERY_PRETERM_DAYS) * 1.0, 0.0))
        t.loc[(lb == 1) & np.isnan(ga), ["preterm_birth", "very_preterm_birth"]] = np.nan
    if have_births:
        b = births.copy()
        b["low_birthweight"] = (pd.to_numeric(b["birthweight_g"], errors="coerce") < LOW_BIRTHWEIGHT_G).astype(float)
        b.loc[b["birthweight_g"].isna(), "low_birthweight"] = np.nan
        if "gestational_age_days" in cols:
            ga_of = b[_KEY].merge(t[[*_KEY, "gestational_age_days"]], on=_KEY, how="left")["gestational_age_days"]
            threshold = hadlock_centile_weight(pd.to_numeric(ga_of, errors="coerce").to_numpy(float), 10)
            weight = pd.to_numeric(b["birthweight_g"], errors="coerce").to_numpy(float)
            b["small_for_gestational_age"] = np.where(
                np.isnan(weight) | np.isnan(threshold), np.nan, (weight < threshold) * 1.0
            )
        for c in ("major_congenital_anomaly", "neonatal_death", "nicu_admission"):
            if c in b.columns:
                b[c] = _flag(b[c]).to_numpy()
        baby_cols = [
            c
            for c in (
                "low_birthweight",
                "small_for_gestational_age",
                "major_congenital_anomaly",
                "neonatal_death",
                "nicu_admission",
            )
            if c in b.columns
        ]
        per_delivery = b.groupby(_KEY, sort=False)[baby_cols].max(min_count=1)  # any baby: one pregnancy event
        per_delivery["n_babies"] = b.groupby(_KEY, sort=False).size()
        # The deliveries' columns are looked up by key and appended, as a left merge would, but
        # without copying every transfer column once more (half a second at a million rows).
        for c in (*baby_cols, "n_babies"):
            if c in t.columns:
                del t[c]
        delivered = per_delivery.reindex(pd.MultiIndex.from_frame(t[_KEY]))
        for c in (*baby_cols, "n_babies"):
            t[c] = delivered[c].to_numpy()
        t.index = pd.RangeIndex(len(t))
        t["n_babies"] = t["n_babies"].fillna(0).astype(int)
        t["multiple_birth"] = (t["n_babies"] >= 2).astype(float)
        for c in baby_cols:
            t[c] = np.where(t["live_birth"] == 1, t[c], np.where(t["live_birth"] == 0, 0.0, np.nan))
    available = set(cols) | ({"births", *births.columns} if have_births else set())
    recorded = {o for o, _ in CORE_OUTCOMES if all(n in available for n in _NEEDS.get(o, ()))}
    t.attrs["recorded"] = sorted(recorded)
    return t


def woman_outcomes(outcomes: pd.DataFrame, *, group: str | None = None) -> pd.DataFrame:
    """Fold per-transfer outcomes into one row per woman: an outcome is 1 if it happened at any of her transfers.

    Parameters
    ----------
    outcomes : DataFrame
        :func:`pregnancy_outcomes` of the transfers to count (e.g. every transfer up to the
        first live birth), with ``transfer_number``.
    group : str, optional
        Column whose value at the woman's first transfer labels her (the arm at the first
        transfer: an intention-to-treat grouping, since arms change after failures).

    Returns
    -------
    DataFrame
        One row per ``patient_id``; unknown counts as not happened when the woman has another known
        transfer, NaN when none of hers is known.
    """
    names = [o for o in dict(CORE_OUTCOMES) if o in outcomes.columns]
    ordered = outcomes.sort_values(_KEY, kind="stable")
    folded = ordered.groupby("patient_id", sort=True)[names].max(min_count=1)
    if group is not None:
        folded[group] = ordered.groupby("patient_id", sort=True)[group].first()
    out = folded.reset_index()
    out.attrs["recorded"] = outcomes.attrs.get("recorded", [])
    return out


def core_outcome_table(
    outcomes: pd.DataFrame,
    *,
    by: str | None = None,
    unit: str = "transfer",
    conf_level: float = 0.95,
    specs: Sequence[tuple[str, str]] = CORE_OUTCOMES,
) -> pd.DataFrame:
    """Return the core outcome set: events, denominator, proportion and exact interval per group.

    Parameters
    ----------
    outcomes : DataFrame
        :func:`pregnancy_outcomes` (``unit="transfer"``) or :func:`woman_outcomes` (``"woman"``).
    by : str, optional
        Grouping column (arm, profile group); None for everybody.
    unit : {"transfer", "woman"}
        What one row of ``outcomes`` is; names the ``unit`` denominator.
    conf_level : float
    specs : sequence of (outcome, denominator)

    Returns
    -------
    DataFrame
        Columns ``group, outcome, denominator, n_events, n, proportion, conf_low_proportion,
        conf_high_proportion, recorded``; ``n`` counts the rows with the denominator event and a
        known outcome; an outcome the data do not record has ``recorded`` False and no numbers.
    """
    recorded = set(outcomes.attrs.get("recorded", []))
    groups = (
        [("all", outcomes)] if by is None else [(str(k), g) for k, g in outcomes.groupby(by, sort=True, observed=True)]
    )
    rows = []
    for label, g in groups:
        for outcome, denominator in specs:
            entry = {
                "group": label,
                "outcome": outcome,
                "denominator": unit if denominator == "unit" else denominator,
                "recorded": outcome in recorded and outcome in g.columns,
            }
            if entry["recorded"]:
                base = g if denominator == "unit" else g[g[denominator] == 1]
                y = base[outcome].dropna()
                entry.update(n_events=int(y.sum()), n=int(len(y)))
            else:
                entry.update(n_events=pd.NA, n=pd.NA)
            rows.append(entry)
    out = pd.DataFrame(rows)
    events = pd.to_numeric(out["n_events"], errors="coerce").to_numpy(float)
    n = pd.to_numeric(out["n"], errors="coerce").to_numpy(float)
    low, high = clopper_pearson_interval(np.nan_to_num(events), np.nan_to_num(n), conf_level=conf_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["proportion"] = np.where(n > 0, events / n, np.nan)
    out["conf_low_proportion"] = np.where(n > 0, low, np.nan)
    out["conf_high_proportion"] = np.where(n > 0, high, np.nan)
    out["n_events"] = out["n_events"].astype("Int64")
    out["n"] = out["n"].astype("Int64")
    return out[
        [
            "group",
            "outcome",
            "denominator",
            "n_events",
            "n",
            "proportion",
            "conf_low_proportion",
            "conf_high_proportion",
            "recorded",
        ]
    ]


def gestational_age_table(outcomes: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Gestational age at delivery (days) among live births: n, median, quartiles, by group.

    Returns
    -------
    DataFrame
        ``group, n, median_days, q1_days, q3_days`` (empty when the data do not record it).
    """
    if "gestational_age_days" not in outcomes.columns:
        return pd.DataFrame(columns=["group", "n", "median_days", "q1_days", "q3_days"])
    born = outcomes[outcomes["live_birth"] == 1]
    groups = [("all", born)] if by is None else [(str(k), g) for k, g in born.groupby(by, sort=True, observed=True)]
    rows = []
    for label, g in groups:
        ga = pd.to_numeric(g["gestational_age_days"], errors="coerce").dropna()
        rows.append(
            {
                "group": label,
                "n": len(ga),
                "median_days": float(ga.median()) if len(ga) else np.nan,
                "q1_days": float(ga.quantile(0.25)) if len(ga) else np.nan,
                "q3_days": float(ga.quantile(0.75)) if len(ga) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def birthweight_table(births: pd.DataFrame | None, outcomes: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Birthweight (g) of the babies by group and plurality: n, median and quartiles.

    Parameters
    ----------
    births : DataFrame or None
        One row per baby (None: not recorded, an empty table is returned).
    outcomes : DataFrame
        :func:`pregnancy_outcomes` of the transfers whose babies are counted (``n_babies``, ``by``).
    by : str
        Grouping column of ``outcomes`` (the arm of the transfer).

    Returns
    -------
    DataFrame
        ``group, plurality (singleton / multiple), n, median_g, q1_g, q3_g``.
    """
    columns = ["group", "plurality", "n", "median_g", "q1_g", "q3_g"]
    if births is None or "n_babies" not in outcomes.columns:
        return pd.DataFrame(columns=columns)
    babies = births[[*_KEY, "birthweight_g"]].merge(outcomes[[*_KEY, by, "n_babies"]], on=_KEY, how="inner")
    babies["plurality"] = np.where(babies["n_babies"] >= 2, "multiple", "singleton")
    rows = []
    for (group, plurality), g in babies.groupby([by, "plurality"], sort=True, observed=True):
        w = pd.to_numeric(g["birthweight_g"], errors="coerce").dropna()
        rows.append(
            {
                "group": str(group),
                "plurality": plurality,
                "n": len(w),
                "median_g": float(w.median()) if len(w) else np.nan,
                "q1_g": float(w.quantile(0.25)) if len(w) else np.nan,
                "q3_g": float(w.quantile(0.75)) if len(w) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=columns)


#: Columns of :func:`harm_differences`.
HARM_DIFFERENCE_COLUMNS = [
    "stratum",
    "outcome",
    "denominator",
    "comparison",
    "n_events_treated",
    "n_treated",
    "n_events_reference",
    "n_reference",
    "risk_treated_proportion",
    "risk_reference_proportion",
    "rd_proportion",
    "rd_low_proportion",
    "rd_high_proportion",
]


def harm_differences(
    outcomes: pd.DataFrame,
    *,
    harms: Sequence[tuple[str, str]],
    contrast: str = "treatment_arm",
    reference: str = "none",
    by: str | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Risk difference of each harm against the reference with Newcombe's hybrid score interval.

    Parameters
    ----------
    outcomes : DataFrame
        :func:`pregnancy_outcomes` or :func:`woman_outcomes` rows.
    harms : sequence of (outcome, denominator)
        As in :data:`CORE_OUTCOMES` (``unit``: every row).
    contrast : str
        ``treatment_arm`` (each arm against ``reference``) or ``agent``: rows given each agent
        (:func:`agent_indicators`) against rows of the arm ``reference`` (no immunotherapy).
    reference : str
        The reference arm.
    by : str, optional
        Stratify (e.g. ``profile_group``).
    conf_level : float

    Returns
    -------
    DataFrame
        ``stratum, outcome, denominator, comparison, n_events_treated, n_treated,
        n_events_reference, n_reference, risk_treated_proportion, risk_reference_proportion,
        rd_proportion, rd_low_proportion, rd_high_proportion``: risks and differences on the
        0–1 scale (× 100: per 100 women or transfers).
    """
    data = outcomes
    strata = [("all", data)] if by is None else [(str(k), g) for k, g in data.groupby(by, sort=True, observed=True)]
    rows = []
    for stratum, g in strata:
        arm = g["treatment_arm"].astype(str)
        ref_rows = g[arm == reference]
        if contrast == "treatment_arm":
            others = [(lvl, g[arm == lvl]) for lvl in sorted(arm.unique()) if lvl != reference]
        else:
            flags = agent_indicators(g)
            others = [(a, g[flags[f"agent_{a}"] == 1]) for a in AGENTS if (flags[f"agent_{a}"] == 1).any()]
        for outcome, denominator in harms:
            if outcome not in g.columns:
                continue
            for label, treated in others:

                def counts(frame, outcome=outcome, denominator=denominator):
                    base = frame if denominator == "unit" else frame[frame[denominator] == 1]
                    y = base[outcome].dropna()
                    return int(y.sum()), int(len(y))

                x1, n1 = counts(treated)
                x0, n0 = counts(ref_rows)
                d, low, high = newcombe_difference_interval(x1, n1, x0, n0, conf_level=conf_level)
                rows.append(
                    {
                        "stratum": stratum,
                        "outcome": outcome,
                        "denominator": denominator,
                        "comparison": f"{label} vs {reference}",
                        "n_events_treated": x1,
                        "n_treated": n1,
                        "n_events_reference": x0,
                        "n_reference": n0,
                        "risk_treated_proportion": x1 / n1 if n1 else np.nan,
                        "risk_reference_proportion": x0 / n0 if n0 else np.nan,
                        "rd_proportion": float(d[0]),
                        "rd_low_proportion": float(low[0]),
                        "rd_high_proportion": float(high[0]),
                    }
                )
    return pd.DataFrame(rows, columns=HARM_DIFFERENCE_COLUMNS)  # the columns even when no harm is recorded


def adverse_event_table(
    events: pd.DataFrame | None, transfers: pd.DataFrame, *, conf_level: float = 0.95
) -> pd.DataFrame:
    """Adverse events by agent: women treated, women with an event, per 100 women treated (exact CI), by severity.

    Parameters
    ----------
    events : DataFrame or None
        The ``adverse_events`` table (None: not recorded, an empty table is returned).
    transfers : DataFrame
        Transfers of the analysed women (``patient_id``, ``treatment_agents``): who was treated.
    conf_level : float

    Returns
    -------
    DataFrame
        One row per agent given: ``agent, n_women_treated, n_women_with_event, n_events,
        n_serious, n_<severity>`` for each severity grade, ``women_with_event_percent`` and its
        exact limits ``conf_low_percent``, ``conf_high_percent`` (women with an event per 100
        women treated).
    """
    columns = ["agent", "n_women_treated", "n_women_with_event", "n_events", "n_serious"]
    columns += [f"n_{s}" for s in SEVERITIES]
    columns += ["women_with_event_percent", "conf_low_percent", "conf_high_percent"]
    if events is None:
        return pd.DataFrame(columns=columns)
    given = agent_indicators(transfers)
    women = set(transfers["patient_id"])
    ev = events[events["patient_id"].isin(women)].copy()
    ev["agent"] = ev["agent"].astype(str)
    rows = []
    for agent in [a for a in AGENTS if given[f"agent_{a}"].any()]:
        who = set(transfers.loc[given[f"agent_{agent}"].to_numpy() == 1, "patient_id"])
        e = ev[(ev["agent"] == agent) & ev["patient_id"].isin(who)]
        entry = {
            "agent": agent,
            "n_women_treated": len(who),
            "n_women_with_event": int(e["patient_id"].nunique()),
            "n_events": len(e),
            "n_serious": int(_flag(e["serious"]).fillna(0).sum()),
        }
        for s in SEVERITIES:
            entry[f"n_{s}"] = int((e["severity"].astype(str) == s).sum())
        rows.append(entry)
    out = pd.DataFrame(rows, columns=columns[: len(columns) - 3])
    low, high = clopper_pearson_interval(out["n_women_with_event"], out["n_women_treated"], conf_level=conf_level)
    out["women_with_event_percent"] = 100 * out["n_women_with_event"] / out["n_women_treated"]
    out["conf_low_percent"] = 100 * low
    out["conf_high_percent"] = 100 * high
    return out


def firth_rows(
    data: pd.DataFrame,
    *,
    outcome: str,
    covariates: Sequence[str],
    model_id: str,
    population: str,
    notebook: str,
    references: Mapping[str, str] | None = None,
    weights: pd.Series | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the estimate rows of a Firth logistic model: OR with profile penalised-likelihood limits.

    Parameters
    ----------
    data : DataFrame
        Rows with a known outcome (0/1) and complete covariates.
    outcome : str
    covariates : sequence of str
        Main effects, coded by :func:`analysis.models.design.covariate_design`.
    model_id, population, notebook : str
        Labels of the rows (estimator ``firth_pl``).
    references : mapping, optional
        Reference levels overriding the contract's.
    weights : Series, optional
        Case weights (indexed like ``data``).
    conf_level : float

    Returns
    -------
    DataFrame
        The estimates contract: ``coef`` the penalised log OR, ``std_error`` from the inverse
        information (Wald), ``conf_low``/``conf_high`` the profile limits, ``p_value`` the Wald
        test.
    """
    rows = data.dropna(subset=[outcome, *covariates])
    x, names = covariate_design(rows, covariates, references=references)
    y = pd.to_numeric(rows[outcome]).to_numpy(float)
    w = None if weights is None else weights.loc[rows.index].to_numpy(float)
    fit = fit_firth(x, y, weights=w)
    limits = [firth_profile_interval(x, y, j, fit=fit, weights=w, conf_level=conf_level) for j in range(1, len(names))]
    return estimate_rows(
        names[1:],
        fit.coef[1:],
        fit.std_error[1:],
        conf_level=conf_level,
        conf_low=np.exp([lo for lo, _ in limits]),
        conf_high=np.exp([hi for _, hi in limits]),
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator="firth_pl",
        n_obs=len(rows),
        n_events=int(y.sum()),
    )


def _mover_difference(d1, l1, u1, d2, l2, u2):
    """Difference of two estimates with the MOVER limits (Newcombe's construction, treating them as independent)."""
    d = d1 - d2
    return d, d - np.sqrt((d1 - l1) ** 2 + (u2 - d2) ** 2), d + np.sqrt((u1 - d1) ** 2 + (d2 - l2) ** 2)


def benefit_harm_table(
    benefit: pd.DataFrame,
    harms: pd.DataFrame,
    *,
    harm_outcomes: Sequence[str],
) -> pd.DataFrame:
    """Live birth gained against harm added per 100 women, per group, with intervals.

    Parameters
    ----------
    benefit : DataFrame
        Live birth gained per group: ``group, risk_difference, conf_low, conf_high`` and the
        women in each arm (``n_treated, n_untreated``), optionally ``grouping`` (the rule table of
        notebook 06, :func:`analysis.methods.benefit.rule_table`, has all of them) and the
        live-birth counts ``events_treated, events_untreated`` (a crude table has them).
    harms : DataFrame
        :func:`harm_differences` stratified by the same groups with the same comparison (e.g.
        ``personalized vs none``), one row per harm outcome and stratum; with a ``grouping``
        column when ``benefit`` has one (a stratum is matched within its grouping).
    harm_outcomes : sequence of str
        The declared safety outcomes, in order.

    Returns
    -------
    DataFrame
        One row per group and harm: ``grouping`` (empty without one), ``group, harm``, the counts
        behind both differences (``n_treated, n_events_treated, n_untreated, n_events_untreated``
        of live birth, missing when the benefit is model-based; ``n_events_harm_treated,
        n_events_harm_reference``), and per 100 women ``gained_percent`` (``gained_low_percent``,
        ``gained_high_percent``), ``added_percent`` (…) and ``net_percent`` = gained − added with
        MOVER limits (Newcombe's construction for a difference of two estimates, treating them
        as independent; live birth and a harm among live births are positively correlated, so
        the limits are conservative).
    """
    harm_grouping = harms["grouping"].astype(str) if "grouping" in harms else pd.Series("", index=harms.index)
    rows = []
    for r in benefit.itertuples(index=False):
        grouping = str(getattr(r, "grouping", "") or "")
        level = str(r.group)
        for harm in harm_outcomes:
            h = harms[(harms["stratum"].astype(str) == level) & (harms["outcome"] == harm)]
            if grouping and "grouping" in harms:
                h = h[harm_grouping.loc[h.index] == grouping]
            entry = {
                "grouping": grouping,
                "group": level,
                "harm": harm,
                "n_treated": getattr(r, "n_treated", pd.NA),
                "n_events_treated": getattr(r, "events_treated", pd.NA),
                "n_untreated": getattr(r, "n_untreated", pd.NA),
                "n_events_untreated": getattr(r, "events_untreated", pd.NA),
                "n_events_harm_treated": h["n_events_treated"].iloc[0] if len(h) else pd.NA,
                "n_events_harm_reference": h["n_events_reference"].iloc[0] if len(h) else pd.NA,
                "gained_percent": 100 * r.risk_difference,
                "gained_low_percent": 100 * r.conf_low,
                "gained_high_percent": 100 * r.conf_high,
            }
            if len(h):
                h = h.iloc[0]
                entry.update(
                    added_percent=100 * h["rd_proportion"],
                    added_low_percent=100 * h["rd_low_proportion"],
                    added_high_percent=100 * h["rd_high_proportion"],
                )
            else:
                entry.update(added_percent=np.nan, added_low_percent=np.nan, added_high_percent=np.nan)
            net, lo, hi = _mover_difference(
                entry["gained_percent"],
                entry["gained_low_percent"],
                entry["gained_high_percent"],
                entry["added_percent"],
                entry["added_low_percent"],
                entry["added_high_percent"],
            )
            entry.update(net_percent=net, net_low_percent=lo, net_high_percent=hi)
            rows.append(entry)
    return pd.DataFrame(rows)


def harm_checked_rule(
    rule: pd.DataFrame,
    harms: pd.DataFrame,
    *,
    harm_outcomes: Sequence[str],
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Notebook 06's supported rule checked against harm: recommend a group only if its gain outweighs every declared harm.

    A group is recommended when (1) the supported rule says ``treat`` (its doubly robust
    live-birth difference is positive with a multiplicity-adjusted p-value within the plan's
    alpha, :func:`analysis.methods.benefit.rule_table`) and (2) for every declared safety
    outcome the interval of the net gain (live births gained minus harms added per 100 women,
    :func:`benefit_harm_table`) lies above zero, i.e. the benefit interval excludes a harm as
    large as the gain. A group the rule would treat but whose harm cannot be excluded is flagged,
    not recommended; a missing harm estimate (outcome not recorded, an empty arm) makes the check
    fail closed. The live-birth numbers are the rule's own, so this table and
    ``tables/benefit.csv`` cannot disagree about the benefit.

    Parameters
    ----------
    rule : DataFrame
        :func:`analysis.methods.benefit.rule_table` (``grouping, group, n_treated, n_untreated,
        risk_difference, conf_low, conf_high, p_adjusted, multiplicity, verdict``).
    harms : DataFrame
        :func:`harm_differences` by the same groups and comparison, with a ``grouping`` column
        naming the stratifying column of each row.
    harm_outcomes : sequence of str
        The declared safety outcomes.
    conf_level : float
        The level of the intervals given (for the sentence).

    Returns
    -------
    DataFrame
        One row per grouping and group: ``grouping, group, rule_verdict, p_adjusted,
        benefit_shown, harm_excluded, recommended``, the counts behind it (``n_treated,
        n_untreated`` and ``fewest_harm_events``, the smallest harm count in either arm, which
        masks the row when small) and ``display``: the verdict with its numbers and intervals (a
        text column the disclosure rule masks with its row).

    Examples
    --------
    >>> rule = pd.DataFrame({"grouping": ["profile_group"], "group": ["dysregulated"],
    ...                      "n_treated": [200], "n_untreated": [200], "risk_difference": [0.12],
    ...                      "conf_low": [0.05], "conf_high": [0.19], "p_adjusted": [0.001],
    ...                      "multiplicity": ["holm"], "verdict": ["treat"]})
    >>> harms = pd.DataFrame({"grouping": ["profile_group"], "stratum": ["dysregulated"],
    ...                       "outcome": ["preterm_birth"], "n_events_treated": [12],
    ...                       "n_events_reference": [8], "rd_proportion": [0.03],
    ...                       "rd_low_proportion": [0.0], "rd_high_proportion": [0.06]})
    >>> harm_checked_rule(rule, harms, harm_outcomes=["preterm_birth"])["recommended"].tolist()
    [True]
    """
    missing = sorted({"group", "risk_difference", "conf_low", "conf_high", "verdict"} - set(rule.columns))
    if missing:
        raise ValueError(f"the rule table lacks the column(s) {missing} (give benefit.rule_table's output)")
    table = benefit_harm_table(rule, harms, harm_outcomes=harm_outcomes)
    rule = rule.assign(grouping=rule["grouping"].astype(str) if "grouping" in rule else "")
    pct = f"{100 * conf_level:g}% CI"
    rows = []
    for (grouping, group), g in table.groupby(["grouping", "group"], sort=False):
        r = rule[(rule["grouping"] == grouping) & (rule["group"].astype(str) == group)].iloc[0]
        benefit_shown = r["verdict"] == "treat"
        harm_excluded = bool(g["net_low_percent"].notna().all() and (g["net_low_percent"] > 0).all())
        recommended = benefit_shown and harm_excluded
        p_adj = r.get("p_adjusted", np.nan)
        parts = [
            f"live birth {100 * r['risk_difference']:+.1f} per 100 women ({pct} {100 * r['conf_low']:+.1f} "
            f"to {100 * r['conf_high']:+.1f}; rule: {r['verdict']}"
            + (f", adjusted p {p_adj:.3g}" if pd.notna(p_adj) else "")
            + ")"
        ]
        for h in g.itertuples(index=False):
            name = h.harm.replace("_", " ")
            if np.isnan(h.added_percent):
                parts.append(f"{name} not estimable (not recorded or an arm is empty)")
            else:
                parts.append(
                    f"{name} {h.added_percent:+.1f} ({h.added_low_percent:+.1f} to {h.added_high_percent:+.1f}), "
                    f"net {h.net_percent:+.1f} ({h.net_low_percent:+.1f} to {h.net_high_percent:+.1f})"
                )
        if recommended:
            head = "recommended: the rule supports treatment and the gain in live births exceeds every declared harm"
        elif benefit_shown:
            head = "not recommended: the rule supports treatment but a harm as large as the gain cannot be excluded"
        elif r["verdict"] == "do not treat (harm)":
            head = "not recommended: the rule shows fewer live births with treatment"
        else:
            head = "not recommended: no benefit shown"
        harm_counts = pd.to_numeric(
            pd.concat([g["n_events_harm_treated"], g["n_events_harm_reference"]]), errors="coerce"
        ).dropna()
        nonzero = harm_counts[harm_counts > 0]  # a zero is no disclosure; any other small count masks the row
        rows.append(
            {
                "grouping": grouping,
                "group": group,
                "rule_verdict": r["verdict"],
                "p_adjusted": p_adj,
                "benefit_shown": bool(benefit_shown),
                "harm_excluded": harm_excluded,
                "recommended": bool(recommended),
                "n_treated": r.get("n_treated", pd.NA),
                "n_untreated": r.get("n_untreated", pd.NA),
                "fewest_harm_events": nonzero.min() if len(nonzero) else (0 if len(harm_counts) else pd.NA),
                "display": f"{group}: {head}; " + "; ".join(parts) + ".",
            }
        )
    return pd.DataFrame(rows)
