"""What a run ran on and with which configuration (tracking/provenance.py)."""

from explainable_salt.tracking.provenance import configuration_fingerprint


def test_the_configuration_hash_follows_every_parameter_and_not_the_key_order():
    params = {"modelling": {"training": {"batch_size": 16, "seed": 42}}, "explainability": {"absence": ["blur"]}}
    reordered = {"explainability": {"absence": ["blur"]}, "modelling": {"training": {"seed": 42, "batch_size": 16}}}
    assert configuration_fingerprint(params) == configuration_fingerprint(reordered)
    changed = {**params, "modelling": {"training": {"batch_size": 32, "seed": 42}}}
    assert configuration_fingerprint(changed) != configuration_fingerprint(params)
    assert len(configuration_fingerprint(params)) == 16
