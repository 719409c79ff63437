"""The searches' numpydoc docstrings, made from the MLP's: one text for both searches, the
MLP's parameter and attribute entries taken as they are, its methods' docstrings for the
methods a refitted search hands to ``best_estimator_``."""

from __future__ import annotations

import inspect
import re

ABOUT = """
The search of ``GridSearchCV({mlp}(...), param_grid, cv=cv, scoring=scoring,
refit=refit)``, with scikit-learn's conventions (as ``{like}``): every candidate of
``param_grid`` is trained on every fold's training rows and scored on its test rows;
``cv_results_``, ``best_params_``, ``best_score_``, ``best_index_`` and ``n_splits_`` are
GridSearchCV's, and the per-split scores equal its scores for the same splits to float
rounding. After the refit the search is the best {mlp} fitted on all the data:
{methods}, ...

The difference is the speed: the candidates x folds that share every parameter but
``learning_rate_init``, ``alpha``, ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``,
``random_state``, ``tol``, ``n_iter_no_change`` and ``power_t`` train together as ONE
stack of K networks (K = candidates x folds), each minibatch step one batched forward,
backward and update of all K, with each network's own hyperparameters, initial weights,
minibatch order and stopping rules: each one stops exactly when it would alone, and the
others go on. Candidates that differ in another parameter (e.g. ``hidden_layer_sizes``)
train in one stack per value; 'lbfgs', ``strategy="per_sample"`` and ``devices`` fits run
one at a time.
"""

PARAMETERS = """param_grid : dict or list of dicts, default=None
    The candidates: parameter name (of {mlp}) -> list of values to try, or a list of such
    grids (``sklearn.model_selection.ParameterGrid``). None: one candidate, the
    parameters above.
cv : int, cross-validation splitter or iterable, default=5
    The folds: a number of folds >= 2 ({folds}), a splitter
    (``KFold(3, shuffle=True)``), or an iterable of (train, test) index arrays.
scoring : str, callable or None, default=None
    The score of each fit on its test rows: a scorer name (``get_scorer_names()``), a
    callable ``scorer(estimator, X, y)``, or None for the MLP's ``score`` ({score}).
refit : bool or callable, default=True
    Refit the best candidate on all the data, making this search a fitted {kind}. A
    callable ``refit(cv_results_) -> index`` picks the best candidate itself.
"""

ATTRIBUTES = """cv_results_ : dict of ndarray
    GridSearchCV's results: ``params``, ``param_<name>`` (masked arrays),
    ``split<i>_test_score``, ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
    ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``, ``std_score_time``. A fit
    trained in a stack is timed as its share of the stack's time (the stack's time
    divided by its fits) plus its own preparation.
best_params_ : dict
    The parameters of the best candidate (from ``param_grid``).
best_score_ : float
    Its mean test score over the folds (not set with a callable ``refit``).
best_index_ : int
    Its index in ``cv_results_``'s arrays.
n_splits_ : int
    The number of folds.
best_estimator_ : {mlp}
    The best candidate refitted on all the data (``refit=True``).
refit_time_ : float
    Seconds the refit took.
scorer_ : callable
    The scorer of the test rows.
stacks_ : list of list of tuple of int
    The (candidate index, split index) pairs of the fits trained together, one list per
    stack; fits that ran alone are in none.
"""

SEE_ALSO = """{other} : the {other_kind}'s search.
{mlp} : the MLP searched.
sklearn.model_selection.GridSearchCV : the search this one reproduces.
"""


def search_doc(doc: str, mlp: type, **words: str) -> str:
    """A search's docstring: ``doc`` (its title and its Examples section) with ``ABOUT``,
    Parameters (the MLP's, then the search's), Attributes (the search's, then the MLP's
    that it does not document) and See Also between them; ``words`` fill the templates
    (like, methods, folds, score, kind, other, other_kind)."""
    doc, mlp_doc = inspect.cleandoc(doc), inspect.cleandoc(mlp.__doc__ or "")
    fill = {"mlp": mlp.__name__, **words}
    own = PARAMETERS.format(**fill)
    attributes = ATTRIBUTES.format(**fill)
    documented = {name for name, _ in _entries(attributes)}
    mlp_attributes = "".join(text for name, text in _entries(section(mlp_doc, "Attributes"))
                             if name not in documented)  # fmt: skip
    title, examples = doc.split("\n\nExamples\n", 1)
    parts = [title, ABOUT.format(**fill).strip(),
             _titled("Parameters", section(mlp_doc, "Parameters") + own),
             _titled("Attributes", attributes + mlp_attributes),
             _titled("See Also", SEE_ALSO.format(**fill)), "Examples\n" + examples]  # fmt: skip
    return "\n\n".join(part.rstrip("\n") for part in parts)


def method_doc(mlp: type, name: str) -> str:
    """The docstring of the MLP's method ``name``, said of the refitted best candidate."""
    summary, rest = inspect.cleandoc(getattr(mlp, name).__doc__).split("\n", 1)
    return f"{summary.rstrip('.')}: the refitted best candidate's (``best_estimator_``).\n{rest}"


def _titled(title: str, body: str) -> str:
    return f"{title}\n{'-' * len(title)}\n{body}"


_HEADER = re.compile(r"^(\w[\w ]*)\n-+\n", re.MULTILINE)


def section(doc: str, title: str) -> str:
    """The body of numpydoc section ``title`` of ``doc`` (its lines, each ending in a
    newline)."""
    headers = list(_HEADER.finditer(doc))
    for i, header in enumerate(headers):
        if header.group(1) == title:
            end = headers[i + 1].start() if i + 1 < len(headers) else len(doc)
            return doc[header.end() : end].rstrip("\n") + "\n"
    raise ValueError(f"no {title!r} section in the docstring")


def _entries(body: str) -> list[tuple[str, str]]:
    """(name, text) of each entry of a section body: a line at column 0 and the indented
    lines after it."""
    entries: list[tuple[str, str]] = []
    for line in body.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            entries.append((line.split(" : ")[0].strip(), line))
        elif entries:
            name, text = entries[-1]
            entries[-1] = (name, text + line)
    return entries
