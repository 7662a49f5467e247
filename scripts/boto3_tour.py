#!/usr/bin/env python3
"""A new user's first minutes with Baton through boto3: create, run, inspect, stop, redrive.

usage: python3 scripts/boto3_tour.py [ENDPOINT]   (default http://127.0.0.1:8080)

Needs boto3 (`pip install boto3`). Exits non-zero if anything does not behave as on AWS.
"""
import json
import sys
import time
import uuid

import boto3
from botocore.config import Config

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
sfn = boto3.client(
    "stepfunctions",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="baton",
    aws_secret_access_key="baton",
    # StartSyncExecution goes to "sync-<host>" otherwise, which loopback does not resolve.
    config=Config(inject_host_prefix=False),
)
role = "arn:aws:iam::123456789012:role/baton"
tag = uuid.uuid4().hex[:8]


def wait(arn, timeout=30):
    deadline = time.time() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.time() > deadline:
            return d
        time.sleep(0.1)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)


hello = {
    "StartAt": "Greet",
    "States": {
        "Greet": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.name)"}, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
m = sfn.create_state_machine(name=f"hello-{tag}", definition=json.dumps(hello), roleArn=role)
run = sfn.start_execution(stateMachineArn=m["stateMachineArn"], name="first", input='{"name": "Ada"}')
d = wait(run["executionArn"])
check(d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"greeting": "Hello, Ada!"}, "start and describe")
events = sfn.get_execution_history(executionArn=run["executionArn"])["events"]
check([e["type"] for e in events][0] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded", "history")
listed = sfn.list_executions(stateMachineArn=m["stateMachineArn"], statusFilter="SUCCEEDED")["executions"]
check(any(e["executionArn"] == run["executionArn"] for e in listed), "list executions")

waiter = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
w = sfn.create_state_machine(name=f"waiter-{tag}", definition=json.dumps(waiter), roleArn=role)
long_run = sfn.start_execution(stateMachineArn=w["stateMachineArn"])
sfn.stop_execution(executionArn=long_run["executionArn"], error="Enough", cause="a test")
d = sfn.describe_execution(executionArn=long_run["executionArn"])
check(d["status"] == "ABORTED" and d["error"] == "Enough", "stop")

# A task that fails (nothing listens on port 9 of loopback), then a redrive.
flaky = {
    "StartAt": "Call",
    "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                        "Parameters": {"ApiEndpoint": "http://127.0.0.1:9/", "Method": "GET"}, "End": True}},
}
f = sfn.create_state_machine(name=f"flaky-{tag}", definition=json.dumps(flaky), roleArn=role)
failed = sfn.start_execution(stateMachineArn=f["stateMachineArn"])
d = wait(failed["executionArn"])
check(d["status"] == "FAILED" and d["error"] == "States.Http.Socket", "a failing task fails the execution")
sfn.redrive_execution(executionArn=failed["executionArn"])
d = wait(failed["executionArn"])
types = [e["type"] for e in sfn.get_execution_history(executionArn=failed["executionArn"])["events"]]
check(d["redriveCount"] == 1 and "ExecutionRedriven" in types, "redrive")

express = sfn.create_state_machine(name=f"express-{tag}", definition=json.dumps(hello), roleArn=role, type="EXPRESS")
r = sfn.start_sync_execution(stateMachineArn=express["stateMachineArn"], input='{"name": "Grace"}')
check(r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"greeting": "Hello, Grace!"}, "express sync")

try:
    sfn.describe_execution(executionArn=run["executionArn"] + "-nope")
    check(False, "unknown execution")
except sfn.exceptions.ExecutionDoesNotExist:
    check(True, "errors are AWS's (ExecutionDoesNotExist)")
print("the tour passed")
