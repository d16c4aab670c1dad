"""IterationCallback under SB3's own PPO.learn: an event after every PPO update, and one at the end of a run that
no callback stopped."""
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from aegis_plugins.policies.callbacks import IterationCallback
from aegis_plugins.policies.vec_env import build_vec_env


class _Record(IterationCallback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _on_update_end(self):
        self.events.append(("update", self.model.num_timesteps, self.model._n_updates))

    def _on_run_end(self):
        self.events.append(("end", self.model.num_timesteps))


class _StopAt(BaseCallback):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def _on_step(self):
        return self.num_timesteps < self.steps


def _ppo():
    envs = build_vec_env(dict(type="GymnasiumEnv", id="CartPole-v1", max_episode_steps=8), n_envs=2, seed=0)
    return PPO("MlpPolicy", envs, n_steps=4, batch_size=8, n_epochs=1, seed=0, verbose=0)


def test_an_event_after_every_update_and_at_the_end():
    record = _Record()
    _ppo().learn(24, callback=record)
    # 3 rollouts of 8 steps; n_updates counts epochs, 1 per update: each event comes after its update
    assert record.events == [("update", 8, 1), ("update", 16, 2), ("update", 24, 3), ("end", 24)]


def test_no_run_end_when_a_callback_stops_learn_inside_a_rollout():
    record = _Record()
    _ppo().learn(64, callback=CallbackList([record, _StopAt(20)]))
    assert record.events == [("update", 8, 1), ("update", 16, 2)]  # stopped at step 20, in the third rollout
