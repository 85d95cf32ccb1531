"""Qlib's stock recipe (Alpha158 + LightGBM) on the 5-year price file, one phase per invocation.

Runs in the benchmark's own virtual environment (``benchmarks/qlib-requirements.txt``), never in the
project's: ``benchmarks/bench_qlib.py`` starts each phase as its own process and measures it. Every
phase reads what the previous one wrote under ``--work`` and writes ``<work>/<phase>.json``
(rows and notes for the benchmark's table):

- ``convert``: the CSV into Qlib's binary layout with this project's writer (``bin_layout.py``);
- ``features``: Qlib's ``Alpha158`` handler over the whole calendar, with the label
  ``Ref($close, -22)/Ref($close, -1) - 1`` (21 days of returns from the next close, Qlib's
  convention of acting at the next close, over this project's 21-day horizon) instead of Qlib's
  2-day one; processors: ``stock`` (the LightGBM benchmark config
  ``workflow_config_lightgbm_Alpha158.yaml``, which sets none, so Alpha158's defaults apply: no
  feature processing, DropnaLabel and CSZScoreNorm of the label) or ``robust`` (Qlib's other
  Alpha158 benchmark configs: RobustZScoreNorm with clipping and Fillna of the features, fitted on
  the first fold's fitted dates; DropnaLabel and CSRankNorm of the label). The handler (raw,
  inference and learning frames) is pickled for the next phases;
- ``train``: one ``LGBModel`` per walk-forward fold (``--folds``: the dates of this project's
  plan), with the benchmark config's LightGBM parameters, early stopping on the fold's validation
  dates, under a Qlib recorder as ``qrun`` runs it; ``num_threads`` is the machine's cores, not the
  config's 20;
- ``predict``: each fold's model (saved as LightGBM text by ``train``, not pickled) scores its
  test dates; the mean over dates of the rank correlation between score and the raw label on those
  dates is reported (information only).

Run by the benchmark; by hand: ``<venv>/bin/python recipe.py <phase> --work DIR [options]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import pandas as pd

LABEL = "Ref($close, -22)/Ref($close, -1) - 1"
# examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml (Qlib 0.9.7), less num_threads
LGB_PARAMS = {
    "loss": "mse",
    "colsample_bytree": 0.8879,
    "learning_rate": 0.2,
    "subsample": 0.8789,
    "lambda_l1": 205.6999,
    "lambda_l2": 580.9768,
    "max_depth": 8,
    "num_leaves": 210,
}
PROCESSORS = {
    "stock": {},
    "robust": {
        "infer_processors": [
            {"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature", "clip_outlier": True}},
            {"class": "Fillna", "kwargs": {"fields_group": "feature"}},
        ],
        "learn_processors": [{"class": "DropnaLabel"}, {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}],
    },
}


def qlib_dir(work: Path) -> Path:
    return work / "qlib_data"


def write_result(work: Path, phase: str, **info) -> None:
    (work / f"{phase}.json").write_text(json.dumps(info, indent=1, default=str))


def load_folds(work: Path) -> list[dict]:
    return json.loads((work / "folds.json").read_text())


def init_qlib(work: Path, kernels: int) -> None:
    # Qlib records runs in MLflow's file store (its default, ./mlruns); MLflow 3 refuses that store
    # unless told to allow it, and a stock ``qrun`` would stop there too.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import qlib
    from qlib.constant import REG_US

    qlib.init(
        provider_uri=str(qlib_dir(work)),
        region=REG_US,
        kernels=kernels,
        exp_manager={
            "class": "MLflowExpManager",
            "module_path": "qlib.workflow.expm",
            "kwargs": {"uri": (work / "mlruns").as_uri(), "default_exp_name": "Experiment"},
        },
    )


def load_handler(work: Path):
    with (work / "handler.pkl").open("rb") as fh:
        return pickle.load(fh)


def phase_convert(args) -> None:
    from bin_layout import convert

    result = convert(args.csv, qlib_dir(args.work))
    write_result(
        args.work,
        "convert",
        rows=result.rows,
        symbols=result.symbols,
        dates=result.dates,
        files=result.files,
        notes=result.notes,
    )


def phase_features(args) -> None:
    init_qlib(args.work, args.kernels)
    from qlib.contrib.data.handler import Alpha158

    folds = load_folds(args.work)
    calendar = (qlib_dir(args.work) / "calendars" / "day.txt").read_text().split()
    handler = Alpha158(
        instruments="all",
        start_time=calendar[0],
        end_time=calendar[-1],
        fit_start_time=folds[0]["train_start"],
        fit_end_time=folds[0]["fit_end"],
        label=([LABEL], ["LABEL0"]),
        **PROCESSORS[args.processors],
    )
    # counted from the handler's frames (private attributes): fetch() would copy them
    raw, learn = handler._data, handler._learn
    started = time.perf_counter()
    handler.to_pickle(args.work / "handler.pkl", dump_all=True)
    write_result(
        args.work,
        "features",
        rows=len(raw),
        features=int((raw.columns.get_level_values(0) == "feature").sum()),
        learn_rows=len(learn),
        processors=args.processors,
        pickle_seconds=time.perf_counter() - started,
        pickle_bytes=(args.work / "handler.pkl").stat().st_size,
    )


def phase_train(args) -> None:
    init_qlib(args.work, args.kernels)
    from qlib.contrib.model.gbdt import LGBModel
    from qlib.data.dataset import DatasetH
    from qlib.data.dataset.handler import DataHandlerLP
    from qlib.workflow import R

    started = time.perf_counter()
    handler = load_handler(args.work)
    load_seconds = time.perf_counter() - started
    dates = handler.fetch(col_set="label", data_key=DataHandlerLP.DK_L).index.get_level_values("datetime")
    models = args.work / "models"
    models.mkdir(exist_ok=True)
    folds, rows = [], 0
    for fold in load_folds(args.work):
        dataset = DatasetH(
            handler,
            segments={"train": (fold["train_start"], fold["fit_end"]), "valid": (fold["val_start"], fold["train_end"])},
        )
        model = LGBModel(**LGB_PARAMS, num_threads=args.threads)
        fit_started = time.perf_counter()
        with R.start(experiment_name="axion_qlib_side_by_side", recorder_name=fold["key"]):
            model.fit(dataset)
        n_train = int(((dates >= fold["train_start"]) & (dates <= fold["fit_end"])).sum())
        n_valid = int(((dates >= fold["val_start"]) & (dates <= fold["train_end"])).sum())
        rows += n_train
        model.model.save_model(str(models / f"{fold['key']}.txt"))  # LightGBM's text, the best iteration
        folds.append(
            {
                "key": fold["key"],
                "train_rows": n_train,
                "valid_rows": n_valid,
                "best_iteration": int(model.model.best_iteration),
                "rounds": int(model.model.current_iteration()),
                "seconds": time.perf_counter() - fit_started,
            }
        )
        print(f"{fold['key']}: {folds[-1]}", flush=True)
    write_result(args.work, "train", rows=rows, folds=folds, handler_load_seconds=load_seconds, threads=args.threads)


def daily_rank_ic(score: pd.Series, label: pd.Series) -> pd.Series:
    """Per date, the Spearman correlation of score and label over the instruments having both."""
    frame = pd.DataFrame({"score": score, "label": label}).dropna()
    ranks = frame.groupby(level="datetime").rank()
    return ranks.groupby(level="datetime").apply(lambda g: g["score"].corr(g["label"]))


def phase_predict(args) -> None:
    init_qlib(args.work, args.kernels)
    import lightgbm as lgb
    from qlib.data.dataset import DatasetH
    from qlib.data.dataset.handler import DataHandlerLP

    started = time.perf_counter()
    handler = load_handler(args.work)
    load_seconds = time.perf_counter() - started
    scores, labels = [], []
    for fold in load_folds(args.work):
        segment = (fold["test_start"], fold["test_end"])
        # what LGBModel.predict does, with the booster read from its text file (no model is unpickled)
        booster = lgb.Booster(model_file=str(args.work / "models" / f"{fold['key']}.txt"))
        x_test = DatasetH(handler, segments={"test": segment}).prepare(
            "test", col_set="feature", data_key=DataHandlerLP.DK_I
        )
        scores.append(pd.Series(booster.predict(x_test.values), index=x_test.index))
        raw = handler.fetch(slice(*segment), col_set="label", data_key=DataHandlerLP.DK_R)
        labels.append(raw.iloc[:, 0])
    score, label = pd.concat(scores), pd.concat(labels)
    score.rename("score").to_frame().to_parquet(args.work / "scores.parquet")
    ic = daily_rank_ic(score, label)
    write_result(
        args.work,
        "predict",
        rows=len(score),
        dates=int(score.index.get_level_values("datetime").nunique()),
        mean_rank_ic=float(ic.mean()),
        ic_dates=len(ic),
        handler_load_seconds=load_seconds,
    )


PHASES = {"convert": phase_convert, "features": phase_features, "train": phase_train, "predict": phase_predict}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=list(PHASES))
    parser.add_argument("--work", type=Path, required=True, help="the run's folder (folds.json in it)")
    parser.add_argument("--csv", type=Path, help="the price file (convert)")
    parser.add_argument("--processors", choices=list(PROCESSORS), default="stock")
    parser.add_argument("--kernels", type=int, default=os.cpu_count(), help="Qlib's expression workers")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="LightGBM threads")
    args = parser.parse_args(argv)
    PHASES[args.phase](args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
