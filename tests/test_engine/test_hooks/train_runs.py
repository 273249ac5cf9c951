"""Run several short ``tools/train.py`` trainings one after the other, each in a forked child of
this process, so the imports (torch, mmengine, mmpretrain, mmdbp: most of a run's time on a
small CPU) are paid once. A child that SIGKILLs itself is a real kill -9 of a training process.

    python train_runs.py RUNS.json OUT.json

RUNS.json: a list of ``{"name": ..., "argv": [train.py arguments], "log": path}``, and of
``{"truncate": path, "size": bytes}`` / ``{"write": path, "text": ...}`` to damage files between
runs. OUT.json gets
``{name: "ok" | "SIGKILL" | "exit N" | "signal N"}``. Nothing here runs a torch op before forking
(OMP_NUM_THREADS=1 is expected), so the children start clean.
"""
import importlib.util
import json
import os
import os.path as osp
import sys
import traceback

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(osp.dirname(HERE)))


def _load_train_tool():
    spec = importlib.util.spec_from_file_location('mmdbp_train_tool', osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(train, run: dict) -> str:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            fd = os.open(run['log'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            train.main(run['argv'])
            code = 0
        except BaseException:  # noqa: BLE001 (report every failure in the log)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 'SIGKILL' if sig == 9 else f'signal {sig}'
    code = os.WEXITSTATUS(status)
    return 'ok' if code == 0 else f'exit {code}'


def main() -> None:
    runs_file, out_file = sys.argv[1:3]
    sys.path[:0] = [REPO, HERE]
    import mmpretrain.datasets  # noqa: F401  (imported once, before forking)
    import mmpretrain.engine  # noqa: F401
    import mmpretrain.models  # noqa: F401

    import crash_helpers  # noqa: F401
    import mmdbp  # noqa: F401
    train = _load_train_tool()
    with open(runs_file) as f:
        runs = json.load(f)
    results = {}
    for run in runs:
        if 'truncate' in run:  # damage a file between runs: keep its first `size` bytes
            with open(run['truncate'], 'r+b') as f:
                f.truncate(run['size'])
            continue
        if 'write' in run:  # overwrite a file between runs
            with open(run['write'], 'w') as f:
                f.write(run['text'])
            continue
        results[run['name']] = _run(train, run)
        with open(out_file, 'w') as f:
            json.dump(results, f)


if __name__ == '__main__':
    main()
