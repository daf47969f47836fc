"""Each function's role grants its own tables and KMS actions, and nothing wider."""

from __future__ import annotations

import pytest

from tests.aws import stack
from tests.aws.stack import CREDENTIAL_CONTEXT, FUNCTIONS

READ = {"dynamodb:GetItem", "dynamodb:Query"}

# What each function may do, by resource: its tables and the KMS key.
GRANTS: dict[str, dict[str, set[str]]] = {
    "ChatFunction": {
        # accounts and gateway keys read; an account's last use and last error written
        "CredentialsTable": READ | {"dynamodb:UpdateItem"},
        # rate windows (conditional ADD), cooldowns, learned limits; kept responses, which
        # their owner may delete
        "RuntimeTable": READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "UsageTable": {"dynamodb:UpdateItem"},
        "CredentialsKey": {"kms:Decrypt"},
    },
    "AgentFunction": {
        "CredentialsTable": READ | {"dynamodb:UpdateItem"},
        # the chat function's state, plus checkpoints
        "RuntimeTable": READ | {"dynamodb:PutItem", "dynamodb:UpdateItem"},
        "UsageTable": {"dynamodb:UpdateItem"},
        "CredentialsKey": {"kms:Decrypt"},
    },
    "AdminFunction": {
        "CredentialsTable": READ
        | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "RuntimeTable": READ,
        "UsageTable": READ,
        # a new credential is sealed (GenerateDataKey); a live key check unwraps it again
        "CredentialsKey": {"kms:GenerateDataKey", "kms:Decrypt"},
    },
    "HealthFunction": {
        "CredentialsTable": READ,
        "RuntimeTable": READ,
    },
}


def _grants(function: str) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for statement in stack.role_statements(function):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resource = statement["Resource"]
        assert isinstance(resource, dict) and list(resource) == ["Fn::GetAtt"], resource
        name, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        granted.setdefault(name, set()).update([actions] if isinstance(actions, str) else actions)
    return granted


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_grants_exactly_its_tables_and_kms_actions(function: str) -> None:
    assert _grants(function) == GRANTS[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_has_no_wildcard_action_or_resource(function: str) -> None:
    for statement in stack.role_statements(function):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, statement
        assert statement["Resource"] != "*"
        assert "NotAction" not in statement and "NotResource" not in statement


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_uses_the_key_only_with_the_credential_context(function: str) -> None:
    for statement in stack.role_statements(function):
        actions = statement["Action"]
        if any(action.startswith("kms:") for action in actions):
            assert statement["Condition"] == CREDENTIAL_CONTEXT, function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_has_only_the_basic_execution_managed_policy(function: str) -> None:
    role = stack.properties(stack.properties(function)["Role"]["Fn::GetAtt"][0])
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ]
