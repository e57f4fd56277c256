"""The report's CLAIM 2024 and TRIPOD+AI checklists, item by item, marked from what the run did.

CLAIM 2024 (Tejani et al., Radiology: Artificial Intelligence 2024;6(4):e240300) has 44 items; TRIPOD+AI (Collins
et al., BMJ 2024;385:e078378) 27, several with lettered sub-items (3a-c, 5a-b, ...), 52 rows in all. The titles
below are short paraphrases, not the checklists' wording. Each item has a rule: a function of the run
(``Run``: its ``RunEvaluation``, its ``RunSetup`` and the headings the report actually wrote) that returns

    Mark("done", where)          where: the report's heading that holds it (a done mark whose heading the report
                                 did not write is turned into "not done", so no item is ticked for a missing part)
    Mark("not done", why)
    Mark("n/a", why)

Nothing is ticked by hand: a rule that marks "done" names a section whose presence it depends on, and the rules
read the data's kind (synthetic or a folder, with or without an import summary naming centres), the test set
(absent, internal or external), the repetitions, the lesion masks and the subgroups.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from femur_app.evaluation.data_facts import import_summary


@dataclass(frozen=True)
class Mark:
    status: str  # "done", "not done" or "n/a"
    text: str  # done: the report's section that holds it; otherwise: why


@dataclass(frozen=True)
class Run:
    """What a rule may look at: the evaluation, the setup and the headings the report wrote (without #)."""

    ev: object
    setup: object
    headings: tuple[str, ...]

    @property
    def synthetic(self) -> bool:
        return self.ev.data_facts.ceiling_auc is not None

    @property
    def centres(self) -> dict | None:
        """The data folder's centres (its import summary's ``by_centre``), None when it names none."""
        if self.synthetic:
            return None
        by_centre = (import_summary(self.ev.data.source) or {}).get("by_centre")
        return by_centre if isinstance(by_centre, dict) and by_centre else None


def done(where: str) -> Callable[[Run], Mark]:
    return lambda run: Mark("done", where)


def not_done(why: str) -> Callable[[Run], Mark]:
    return lambda run: Mark("not done", why)


def not_applicable(why: str) -> Callable[[Run], Mark]:
    return lambda run: Mark("n/a", why)


def synthetic_or(if_synthetic: Callable[[Run], Mark], otherwise: Callable[[Run], Mark]) -> Callable[[Run], Mark]:
    return lambda run: if_synthetic(run) if run.synthetic else otherwise(run)


NO_PATIENTS = "synthetic phantoms: no patients, no people involved"
INTENDED = "Intended use and target population"
DATA = "Data and reference standard"
PARTITIONS = "Partitions and patient-level disjointness"
MODEL = "Model, training and selection procedure"
RAN = "What was run"
RESULTS = "Results"
FILES = "How to read this report"


def external(run: Run) -> Mark:
    test = run.ev.test
    if test is None:
        return Mark("not done", "no test set was given (--test-data); every figure is cross-validated")
    if not test.external:
        return Mark("not done", f"the test set is {test.scope}")
    return Mark("done", "Test set")


def internal(run: Run) -> Mark:
    return Mark("done", "Results" + ("; Test set" if run.ev.test is not None and not run.ev.test.external else ""))


def robustness(run: Run) -> Mark:
    if run.setup.config.cv.repeats > 1:
        return Mark("done", "Results")  # a repeated run's summary carries the spread between trainings
    if run.ev.counterfactuals:
        return Mark("done", "Counterfactual sign tests")
    return Mark("not done", "one cross-validation repetition and no perturbation of the inputs (--repeats K)")


def explainability(run: Run) -> Mark:
    if any(share.cases for share in run.ev.gallery.inside.values()):
        return Mark("done", "Where the network looked")
    return Mark("not done", "Grad-CAM maps are shown, but without lesion masks their focus cannot be checked")


def subgroups(run: Run) -> Mark:
    if run.ev.subgroups:
        return Mark("done", "Per fold; Subgroups")
    return Mark("not done", "per fold only: no subgroup variables are known for these data")


def failures(run: Run) -> Mark:
    return Mark("done", "Failure analysis")


def ensemble(run: Run) -> Mark:
    if run.ev.test is None:
        return Mark("n/a", "no ensemble: each case is predicted by the one model of the fold that held it out")
    return Mark("done", "Test set")


def flow(run: Run) -> Mark:
    if run.synthetic:
        return Mark("done", RAN)  # every generated case is used: the count is the flow
    if run.centres is not None:
        return Mark("not done", "the import's exclusions are in the data folder's import_summary.md, not here")
    return Mark("not done", "cases a folder loses while it is read are counted in train.log only")


def threshold(run: Run) -> Mark:
    return Mark("done", MODEL if run.ev.operating_point is None else f"{MODEL}; An operating point fixed in advance")


def clusters(run: Run) -> Mark:
    if run.synthetic or run.centres is None or len(run.centres) < 2:
        return Mark("n/a", "one source: no clusters (centres) to compare")
    return Mark("not done", f"{len(run.centres)} centres, but no result is given per centre")


def test_differences(run: Run) -> Mark:
    if run.ev.test is None:
        return Mark("n/a", "no separate evaluation data")
    return Mark("done", PARTITIONS)


def test_distribution(run: Run) -> Mark:
    if run.ev.test is None:
        return Mark("n/a", "no separate evaluation data")
    return Mark("not done", "only the test set's size and class counts are set beside the training data's")


def centres_known(run: Run) -> Mark:
    if run.centres is not None:
        return Mark("done", DATA)
    return Mark("not done", "the data do not record their centres or setting")


FOLDER = "not recorded by the run for a data folder"

CLAIM_2024 = (
    ("1", "Title names the AI method and its category", done("title")),
    ("2", "Structured abstract", not_done("the report has no abstract; What was run and Results summarise it")),
    ("3", "Background, intended use and clinical role", done(INTENDED)),
    ("4", "Objectives and hypotheses", done(INTENDED)),
    ("5", "Prospective or retrospective design", synthetic_or(not_applicable("a simulation: no data were collected"),
                                                             done(DATA))),
    ("6", "Study goal", done(INTENDED)),
    ("7", "Data sources", done(DATA)),
    ("8", "Eligibility criteria", synthetic_or(done(DATA), not_done(FOLDER))),
    ("9", "Data preprocessing", done(RAN)),
    ("10", "Selection of data subsets", done(DATA)),
    ("11", "De-identification", synthetic_or(not_applicable(NO_PATIENTS), not_done(FOLDER))),
    ("12", "Missing data", synthetic_or(not_applicable("every generated case is complete"),
                                        not_done("cases skipped while reading are counted in train.log only"))),
    ("13", "Image acquisition protocol", synthetic_or(done(DATA), not_done("the images carry no acquisition "
                                                                           "parameters the run could report"))),
    ("14", "Reference standard: definition", done(DATA)),
    ("15", "Reference standard: rationale", synthetic_or(done(DATA), not_done(FOLDER))),
    ("16", "Annotators: source and qualifications", synthetic_or(not_applicable("labels and masks are the "
                                                                                "generator's, no annotator"),
                                                                 not_done(FOLDER))),
    ("17", "Annotation procedures and tools", synthetic_or(not_applicable("no annotation"), not_done(FOLDER))),
    ("18", "Inter- and intra-rater variability", synthetic_or(not_applicable("no rater"), not_done(FOLDER))),
    ("19", "Assignment to partitions and their proportions", done(PARTITIONS)),
    ("20", "Level at which partitions are disjoint", done(PARTITIONS)),
    ("21", "Intended sample size and how it was set",
     not_done("the sample size is the data's (or the configuration's), with no power calculation")),
    ("22", "Model architecture", done(MODEL)),
    ("23", "Software and versions", done(RAN)),
    ("24", "Initialisation of parameters", done(MODEL)),
    ("25", "Training procedure and hyperparameters", done(MODEL)),
    ("26", "Selection of the final model", done(MODEL)),
    ("27", "Ensembling", ensemble),
    ("28", "Performance metrics and comparison with published models", done(RESULTS)),
    ("29", "Uncertainty and statistical significance", done(RESULTS)),
    ("30", "Robustness or sensitivity analysis", robustness),
    ("31", "Explainability and its validation", explainability),
    ("32", "Internal testing", internal),
    ("33", "External testing", external),
    ("34", "Trial registration", not_applicable("not a clinical trial")),
    ("35", "Numbers included and excluded (flow)", flow),
    ("36", "Demographic and clinical characteristics per partition",
     synthetic_or(not_applicable("phantoms have no demographics; class counts per fold are in Per fold"),
                  not_done("the data carry no demographics"))),
    ("37", "Performance across partitions and subgroups", subgroups),
    ("38", "Accuracy estimates with 95% intervals", done(RESULTS)),
    ("39", "Failure analysis", failures),
    ("40", "Limitations", done("Limitations")),
    ("41", "Implications for practice", done(INTENDED)),
    ("42", "Full protocol", done(RAN)),
    ("43", "Availability of software, model and data", synthetic_or(done(FILES), not_done(
        "the code and models are in the run folder and the repository; the images are not distributed"))),
    ("44", "Funding and the funders' role", not_done("not known to the run; state it when publishing")),
)

TRIPOD_AI = (
    ("1", "Title: a prediction model, its population and outcome", done("title")),
    ("2", "Abstract", not_done("the report has no abstract")),
    ("3a", "Healthcare context, rationale, existing models", done(INTENDED)),
    ("3b", "Target population, intended purpose and users", done(INTENDED)),
    ("3c", "Known health inequalities", synthetic_or(not_applicable(NO_PATIENTS), not_done(FOLDER))),
    ("4", "Objectives: development, evaluation or both", done(INTENDED)),
    ("5a", "Data sources, rationale and representativeness", done(DATA)),
    ("5b", "Dates of the data", synthetic_or(not_applicable("generated data"), not_done(FOLDER))),
    ("6a", "Setting, number and location of centres", synthetic_or(not_applicable("generated data"),
                                                                   centres_known)),
    ("6b", "Eligibility criteria", synthetic_or(done(DATA), not_done(FOLDER))),
    ("6c", "Treatments received", not_applicable("a diagnosis from one image, before any treatment")),
    ("7", "Data preparation and quality checks", done(RAN)),
    ("8a", "Outcome definition and assessment", done(DATA)),
    ("8b", "Outcome assessors' qualifications", synthetic_or(not_applicable("the label is the generator's"),
                                                             not_done(FOLDER))),
    ("8c", "Blinding of outcome assessment", synthetic_or(not_applicable("the label is drawn before the image"),
                                                          not_done(FOLDER))),
    ("9a", "Choice of predictors", done(MODEL)),
    ("9b", "Predictor definitions and measurement", done(RAN)),
    ("9c", "Predictor assessors' qualifications", synthetic_or(not_applicable("the lesion box is the generator's"),
                                                               not_done("who drew the lesion boxes is not recorded"))),
    ("10", "Sample size", not_done("no sample size calculation")),
    ("11", "Missing data", synthetic_or(not_applicable("every generated case is complete"),
                                        not_done("cases skipped while reading are counted in train.log only"))),
    ("12a", "How the data were used and partitioned", done(PARTITIONS)),
    ("12b", "Handling of predictors (rescaling, standardisation)", done(RAN)),
    ("12c", "Model type, building steps, tuning, internal validation", done(MODEL)),
    ("12d", "Heterogeneity across clusters", clusters),
    ("12e", "Performance measures and plots", done(RESULTS)),
    ("12f", "Model updating after evaluation", not_applicable("no model was updated or recalibrated")),
    ("12g", "How the evaluated predictions were calculated", done(RESULTS)),
    ("13", "Class imbalance methods", done(MODEL)),
    ("14", "Fairness", synthetic_or(not_applicable(NO_PATIENTS), not_done("no sociodemographic data"))),
    ("15", "Model output and how thresholds were set", threshold),
    ("16", "Differences between development and evaluation data", test_differences),
    ("17", "Ethical approval", synthetic_or(not_applicable(NO_PATIENTS), not_done(FOLDER))),
    ("18a", "Funding", not_done("not known to the run")),
    ("18b", "Conflicts of interest", not_done("not known to the run")),
    ("18c", "Protocol", done(RAN)),
    ("18d", "Registration", not_done("not known to the run")),
    ("18e", "Data sharing", synthetic_or(done(RAN), not_done("the images are not distributed with the run"))),
    ("18f", "Code sharing", done(RAN)),
    ("19", "Patient and public involvement", synthetic_or(not_applicable(NO_PATIENTS), not_done(FOLDER))),
    ("20a", "Flow of participants, with and without the outcome", flow),
    ("20b", "Characteristics overall and per source", synthetic_or(done(DATA),
                                                                   not_done("the data carry no characteristics"))),
    ("20c", "Evaluation data compared with development data", test_distribution),
    ("21", "Participants and outcome events in each analysis", done("Per fold")),
    ("22", "Full model specification", done(FILES)),
    ("23a", "Performance with intervals, including subgroups", subgroups),
    ("23b", "Heterogeneity of performance across clusters", clusters),
    ("24", "Results of model updating", not_applicable("no model was updated")),
    ("25", "Overall interpretation", done("Baselines on the same cases and folds")),
    ("26", "Limitations", done("Limitations")),
    ("27a", "Handling poor or missing input when used", not_done("the report does not say how a poor image is "
                                                                 "handled in use")),
    ("27b", "User interaction and expertise needed", done(DATA)),
    ("27c", "Next steps for research", done("Limitations")),
)


def marks(items, run: Run) -> list[tuple[str, str, Mark]]:
    """(number, title, mark) of every item, a "done" whose section the report did not write turned "not done"."""
    rows = []
    for number, title, rule in items:
        mark = rule(run)
        if mark.status == "done":
            missing = [where for where in mark.text.split("; ")
                       if where != "title" and not any(h.startswith(where) for h in run.headings)]
            if missing:
                mark = Mark("not done", f"its section ({', '.join(missing)}) is not in this report")
        rows.append((number, title, mark))
    return rows


def checklist_section(ev, setup, lines: list[str]) -> list[str]:
    """Both tables, marked for the report whose ``lines`` are written so far."""
    run = Run(ev, setup, tuple(line.lstrip("#").strip() for line in lines if line.startswith("#")))
    out = ["## Reporting checklists", "",
           "Every item of CLAIM 2024 (44 items) and TRIPOD+AI (27 items, lettered sub-items where they apply), "
           "marked from what this run did (`femur_app.reporting.checklists`): *done* names the section of this "
           "report that holds it, *not done* and *n/a* say why. Titles are short paraphrases; read the "
           "checklists themselves for their wording.", ""]
    for name, items in (("CLAIM 2024", CLAIM_2024), ("TRIPOD+AI", TRIPOD_AI)):
        rows = marks(items, run)
        counts = {status: sum(m.status == status for _, _, m in rows) for status in ("done", "not done", "n/a")}
        out += [f"### {name}: {counts['done']} done, {counts['not done']} not done, {counts['n/a']} not applicable",
                "", "| item | topic | mark | where, or why not |", "|---|---|---|---|"]
        out += [f"| {number} | {title} | {mark.status} | {mark.text} |" for number, title, mark in rows]
        out.append("")
    return out
