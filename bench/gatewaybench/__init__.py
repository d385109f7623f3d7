"""The parts of bench/gateway.py, one module per responsibility.

`common` holds the shared constants and small helpers (logging, HTTP, waiting); `processes` starts,
pins and stops every process by pid; `measure` reads CPU and RSS from /proc; `upstream` is the nginx
fake upstream; `targets` describes a gateway under test; `litellm` and `ours` start the two gateways;
`load` drives them with wrk and with many concurrent streams; `report` prints the tables and the
run's metadata. bench/gateway.py parses the command line and runs them in order.
"""
