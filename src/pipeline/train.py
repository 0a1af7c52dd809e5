"""Stage `train`: fit the configured model on data/prepared, log per-step and per-epoch curves
in dvclive's format (metrics/train), write models/best.pt + models/last.pt and environment.json.

Run by dvc.yaml as `PYTHONPATH=src python -m pipeline.train`; `run()` is the callable core.
"""

from __future__ import annotations

import math
import sys
import time

import torch
import torch.nn.functional as F

from pipeline import checkpoint, paths, runtime, sysmon
from pipeline.config import BaseConfig, TrainConfig, as_dict, stage_main
from pipeline.data import confusion, load_meta, load_split, scores
from pipeline.models import build_model, parameter_counts
from pipeline.optim import make_optimizer
from pipeline.schedule import TrainState, end_epoch, lr_factor, should_stop_early
from pipeline.steplog import StepLog, truncate_tsvs


@torch.no_grad()
def evaluate_split(
    model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, n_classes: int, batch_size: int = 1024
) -> dict:
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    preds = []
    for i in range(0, len(y), batch_size):
        logits = model(X[i : i + batch_size])
        loss_sum += F.cross_entropy(logits, y[i : i + batch_size], reduction="sum").double()
        preds.append(logits.argmax(1))
    result = scores(confusion(torch.cat(preds), y, n_classes))
    result["loss"] = loss_sum.item() / max(len(y), 1)
    return result


def run(base: BaseConfig, cfg: TrainConfig) -> dict:
    """Train and return the summary that is also written to metrics/train/metrics.json."""
    t_start = time.perf_counter()
    runtime.set_threads(cfg.num_threads)
    device = runtime.resolve_device(base.device)
    runtime.seed_everything(base.seed, cfg.deterministic, device)
    main_proc = runtime.is_main_process()
    meta = load_meta()
    n_classes = len(meta["classes"])
    X_train, y_train = load_split("train", device)
    X_val, y_val = load_split("val", device)

    model = build_model(cfg, meta["input_shape"], n_classes).to(device)
    optimizer = make_optimizer(cfg, model)
    generator = torch.Generator().manual_seed(base.seed)  # batch order, saved in checkpoints
    state = TrainState()
    resume = cfg.resume and paths.LAST_CKPT.exists()
    if cfg.resume and not resume:
        print(f"train.resume: {paths.LAST_CKPT} not found, starting from scratch", file=sys.stderr)
    if resume:
        ckpt = checkpoint.load(paths.LAST_CKPT)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        runtime.set_rng_state(ckpt["rng"])
        state = TrainState(**ckpt["train_state"])
    counts = parameter_counts(model)
    train_model = model
    if runtime.is_distributed():
        train_model = torch.nn.parallel.DistributedDataParallel(model)
    world = torch.distributed.get_world_size() if runtime.is_distributed() else 1

    live = runtime.open_live(str(paths.TRAIN_LIVE_DIR), resume) if main_proc else None
    if live is not None:
        # curves may have run ahead of last.pt if the previous run died after logging
        truncate_tsvs(paths.STEP_PLOTS_DIR, state.global_step)
        truncate_tsvs(paths.TRAIN_PLOTS_DIR / "metrics", state.epoch, exclude=paths.STEP_PLOTS_DIR)
        live.step = state.epoch
    prev_elapsed = (
        float(live.summary.get("time", {}).get("total_s", 0.0)) if resume and live else 0.0
    )
    steplog = StepLog(paths.STEP_PLOTS_DIR, enabled=cfg.log_steps and main_proc)
    monitor = sysmon.SystemMonitor()
    steplog.start(prev_elapsed)

    n = len(y_train)
    n_batches = math.ceil(n / cfg.batch_size)
    steps_per_epoch = math.ceil(n_batches / cfg.accumulation_steps)
    max_norm = cfg.clip_grad_norm if cfg.clip_grad_norm > 0 else math.inf
    # `resume` is how this run started, not what it trained: leave it out so a resumed run's
    # checkpoints are byte-identical to an uninterrupted run's
    saved_config = {k: v for k, v in as_dict(cfg).items() if k != "resume"}
    pruned = False
    total_loss = total_correct = total_n = float("nan")
    while state.epoch < cfg.epochs:
        t_epoch = time.perf_counter()
        train_model.train()
        perm = torch.randperm(n, generator=generator).to(device)
        perm = perm[runtime.rank() :: world]  # each rank its shard of the same permutation
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        n_local = len(perm)
        batches = [perm[i : i + cfg.batch_size] for i in range(0, n_local, cfg.batch_size)]
        for g in range(0, len(batches), cfg.accumulation_steps):
            group = batches[g : g + cfg.accumulation_steps]
            group_n = sum(len(b) for b in group)
            step_loss = torch.zeros((), device=device)
            for idx in group:
                logits = train_model(X_train[idx])
                loss = F.cross_entropy(logits, y_train[idx])
                (loss * (len(idx) / group_n)).backward()
                with torch.no_grad():
                    step_loss += loss.detach() * (len(idx) / group_n)
                    loss_sum += loss.detach().double() * len(idx)
                    correct += (logits.argmax(1) == y_train[idx]).sum()
            lr = cfg.lr * lr_factor(cfg, state, g // cfg.accumulation_steps, steps_per_epoch)
            for pg in optimizer.param_groups:
                pg["lr"] = lr
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steplog.add(state.global_step, step_loss, lr, grad_norm, group_n * world)
            state.global_step += 1

        total_loss, total_correct, total_n = runtime.reduce_sums(
            [loss_sum.item(), float(correct.item()), float(n_local)], device
        )
        val = evaluate_split(model, X_val, y_val, n_classes)
        epoch = state.epoch
        is_best = end_epoch(cfg, state, val["loss"], val["acc"])
        stop = should_stop_early(cfg, state)
        if not stop and state.epoch < cfg.epochs and runtime.prune_requested():
            stop = pruned = True
        if main_proc:
            steplog.flush()
            for name, value in (
                ("train/loss", total_loss / total_n),
                ("train/acc", total_correct / total_n),
                ("val/loss", val["loss"]),
                ("val/acc", val["acc"]),
                ("val/precision", val["precision"]),
                ("val/recall", val["recall"]),
                ("val/f1", val["f1"]),
                ("time/epoch_s", time.perf_counter() - t_epoch),
            ):
                live.log_metric(name, value)
            sysmon.write(live.plots_dir, live.step, monitor.sample())
            ckpt_args = dict(
                model=model,
                optimizer=optimizer,
                state=state.to_dict(),
                generator=generator,
                rng=runtime.rng_state(),
                config=saved_config,
                meta={
                    "input_shape": meta["input_shape"],
                    "classes": meta["classes"],
                    "seed": base.seed,
                },
            )
            if is_best:
                checkpoint.save(paths.BEST_CKPT, **ckpt_args)
            checkpoint.save(paths.LAST_CKPT, **ckpt_args)
            # dvclive's next_step() minus its Studio hook (with dvclive's Live swapped in, that
            # hook re-parses every TSV under plots/ each epoch, quadratic in steps).
            # After last.pt, so metrics.json never runs ahead of the checkpoint.
            live.make_summary()
            live.step += 1
        print(
            f"epoch {epoch}: train_loss {total_loss / total_n:.4f} val_loss {val['loss']:.4f} "
            f"val_acc {val['acc']:.4f}{' *' if is_best else ''}",
            flush=True,
        )
        if stop:
            break

    summary = {
        "best": {
            "epoch": state.best_epoch,
            "val_loss": state.best_val_loss,
            "val_acc": state.best_val_acc,
        },
        "params": counts,
        "epochs_run": state.epoch,
        "stopped_epoch": state.epoch,
        "pruned": pruned,
        "early_stopped": should_stop_early(cfg, state),
    }
    if main_proc:
        live.summary.update(summary)
        live.step = max(state.epoch - 1, 0)  # summary's step = last logged step, as dvclive's
        live.summary.setdefault("time", {})["total_s"] = (
            prev_elapsed + time.perf_counter() - t_start
        )
        live.make_summary()
        _write_environment(counts)
    # the last epoch's train metrics, already reduced across ranks (identical on every rank)
    return {**summary, "last_train": {"loss": total_loss / total_n, "acc": total_correct / total_n}}


def _write_environment(counts: dict) -> None:
    import numpy as np

    from pipeline import envinfo
    from pipeline.fileio import write_json

    sizes = {
        s: int(np.load(paths.split_file(s, "y"), mmap_mode="r").shape[0]) for s in paths.SPLITS
    }
    write_json(paths.ENVIRONMENT, envinfo.collect({"parameters": counts, "dataset_sizes": sizes}))


def main() -> int:
    return stage_main(lambda params: run(params.base, params.train) and None)


if __name__ == "__main__":
    sys.exit(main())
