"""Running the project as a cluster: uvicorn nodes behind HAProxy.

`haproxy.cfg` is the load balancer's configuration a deployment uses;
`nodes` starts and stops single-worker uvicorn nodes, `balancer` runs
HAProxy and reads its runtime API, and `cluster` composes them into the
`up`/`status`/`down`/`restart`/`kill` of scripts/cluster.py, which the
cluster tests (tests/cluster/) call as well.
"""
