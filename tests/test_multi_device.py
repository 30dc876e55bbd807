"""Training on several devices (tf.distribute.MirroredStrategy), on a CPU split into 2 logical
devices, in a subprocess (the split must come before TensorFlow starts, and stays for the
process): the status says so, a step trains batch x replicas images, checkpoints load, Stop
ends it within one batch and Resume carries on in the same run folder."""

import json
import subprocess
import sys
import textwrap

from blasto.store.roots import REPO_ROOT

SCRIPT = textwrap.dedent("""
    import json, sys, threading
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")
    from synthetic import tiny_experiment
    from blasto.model.files import load_model
    from blasto.train.config import TrainConfig
    from blasto.train.worker import train

    tiny_experiment(pools=3, frames=4)
    config = TrainConfig(experiment="tiny", epochs=2, steps_per_epoch=3, batch_size=2,
                         start_filters=4, mixed_precision=False)
    stop = threading.Event()
    # Stop after the first step (as the Stop button does): fit ends within one more batch.
    stopped = train(config, stop_event=stop,
                    progress=lambda p: p.status.global_step >= 1 and stop.set())
    first = {"status": stopped.status.to_dict(), "steps": [list(b[:2]) for b in stopped.batches()],
             "params": load_model(stopped.path).count_params()}
    finished = train(config, run_dir=stopped.path, resume=True)
    print(json.dumps({**first, "finished": finished.status.to_dict(),
                      "epochs": [h.epoch for h in finished.history]}))
""")


def test_mirrored_training_on_two_logical_cpus(roots):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    stopped, finished = result["status"], result["finished"]
    # Stop set after step 1: the mirrored fit ends within one more batch (of 4 in the run).
    assert stopped["state"] == "stopped" and result["steps"][0] == [1, 1] and len(result["steps"]) <= 2
    assert stopped["devices"].startswith("MirroredStrategy over 2 devices")
    assert "batch 2 per replica, 4 images a step" in stopped["devices"]
    assert result["params"] > 0  # the stopped run's checkpoint loads
    assert finished["state"] == "finished" and finished["devices"] == stopped["devices"]
    assert result["epochs"][-1] == 2
