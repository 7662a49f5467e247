#!/usr/bin/env python3
"""Baton's functions through boto3's Lambda client, as a user would call them: invoke, a
function error, a timeout, a crash, an Event invocation, GetFunction and ListFunctions,
an unknown function; then a workflow that calls the function through Step Functions.

usage: python3 scripts/boto3_functions.py ENDPOINT FUNCTION

FUNCTION must be the test function of crates/test-function (a lambda_runtime function)
declared with a timeout of at most 2 seconds. Needs boto3 (`pip install boto3`). Exits
non-zero if anything does not behave as on AWS.
"""
import json
import sys
import uuid

import boto3
from botocore.config import Config

endpoint, function = sys.argv[1], sys.argv[2]
common = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="baton",
    aws_secret_access_key="baton",
)
lam = boto3.client("lambda", config=Config(retries={"max_attempts": 0}), **common)
sfn = boto3.client("stepfunctions", config=Config(inject_host_prefix=False), **common)
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


r = lam.invoke(FunctionName=function, Payload=json.dumps({"hello": "boto3"}), LogType="Tail")
body = json.loads(r["Payload"].read())
check(r["StatusCode"] == 200 and "FunctionError" not in r, "invoke answers 200")
check(body["event"] == {"hello": "boto3"}, "the function saw the event")
check(r["ExecutedVersion"] == "$LATEST", "ExecutedVersion is $LATEST")
check("START RequestId" in __import__("base64").b64decode(r["LogResult"]).decode(), "LogResult holds the log tail")

r = lam.invoke(FunctionName=function, Payload=json.dumps({"fail": "PaymentDeclined", "message": "card expired"}))
body = json.loads(r["Payload"].read())
check(r.get("FunctionError") == "Unhandled", "a function error sets FunctionError")
check(body == {"errorType": "PaymentDeclined", "errorMessage": "card expired"}, "the error document is the payload")

r = lam.invoke(FunctionName=function, Payload=json.dumps({"sleep_ms": 10000}))
body = json.loads(r["Payload"].read())
check(body.get("errorType") == "Sandbox.Timedout", "a timeout is Sandbox.Timedout")

r = lam.invoke(FunctionName=function, Payload=json.dumps({"exit": 2}))
body = json.loads(r["Payload"].read())
check(body.get("errorType") == "Runtime.ExitError", "a crash is Runtime.ExitError")

r = lam.invoke(FunctionName=function, InvocationType="Event", Payload=b"{}")
check(r["StatusCode"] == 202, "an Event invocation is accepted with 202")

arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
check(arn.endswith(":function:" + function), "GetFunction gives the ARN")
names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
check(function in names, "ListFunctions lists it")
try:
    lam.invoke(FunctionName="no-such-function-" + uuid.uuid4().hex[:6], Payload=b"{}")
    check(False, "an unknown function is refused")
except lam.exceptions.ResourceNotFoundException:
    check(True, "an unknown function is ResourceNotFoundException")

definition = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn, "Payload.$": "$"},
            "Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "Declined"}],
            "OutputPath": "$.Payload.event",
            "End": True,
        },
        "Declined": {"Type": "Pass", "Result": "declined", "End": True},
    },
}
machine = sfn.create_state_machine(
    name="boto3-functions-" + uuid.uuid4().hex[:8],
    definition=json.dumps(definition),
    roleArn="arn:aws:iam::123456789012:role/baton",
    type="EXPRESS",
)["stateMachineArn"]
r = sfn.start_sync_execution(stateMachineArn=machine, input=json.dumps({"order": 7}))
check(r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"order": 7}, "a workflow calls the function")
r = sfn.start_sync_execution(stateMachineArn=machine, input=json.dumps({"fail": "PaymentDeclined"}))
check(r["status"] == "SUCCEEDED" and json.loads(r["output"]) == "declined", "its error is caught by name")

sys.exit(1 if failures else 0)
