"""The env family's hooks: registration and `aegis doctor` checks."""
from aegis import plugins
from aegis.doctor import Check
from aegis.registry import ENVS


def test_every_env_is_registered():
    assert {"DisasterRescueEnv", "GymnasiumEnv", "HabitatNavEnv"} <= set(ENVS.module_dict)


def test_doctor_checks_report_habitat_sim_and_headless_rendering():
    import importlib.util

    groups = plugins.manager().hook.aegis_doctor_checks()
    checks = {c.name: c for group in groups for c in (group or []) if c.name.startswith("HabitatNavEnv")}
    assert set(checks) == {"HabitatNavEnv: habitat-sim", "HabitatNavEnv: headless rendering"}
    assert all(isinstance(c, Check) for c in checks.values())
    habitat = checks["HabitatNavEnv: habitat-sim"]
    if importlib.util.find_spec("habitat_sim") is None:
        assert not habitat.ok and "conda install habitat-sim" in habitat.fix
