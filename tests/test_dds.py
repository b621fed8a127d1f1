"""ROS domain leases: concurrent robot_rl processes on one machine never share a DDS domain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from robot_rl.dds import DOMAINS, lease_domain


def test_leases_held_by_this_and_another_process_are_never_handed_out_again():
    run_domain = int(os.environ["ROS_DOMAIN_ID"])  # leased by conftest for this test run
    held = [lease_domain() for _ in range(5)]
    domains = [lease.domain for lease in held]
    assert len(set(domains)) == 5 and run_domain not in domains
    assert all(d in DOMAINS and d != 0 for d in domains)
    # another process sees every one of them as taken
    code = "from robot_rl.dds import lease_domain; print(sorted({lease_domain().domain for _ in range(40)}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not set(json.loads(out)) & {*domains, run_domain}
    # released, a domain is free again (the process's own env domain is still skipped)
    for lease in held:
        lease.release()
    with lease_domain(exclude=tuple(d for d in DOMAINS if d != domains[0])) as again:
        assert again.domain == domains[0]
