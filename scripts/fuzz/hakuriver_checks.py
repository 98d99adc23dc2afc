"""Schemathesis checks for HakuRiver's API fuzzing (scripts/test-api-fuzz.sh)."""
import os

import schemathesis


@schemathesis.check
def no_server_error(ctx, response, case):
    """Any 5xx fails, except the original's documented contract: 503 for a submit that no target
    took (`Failed to schedule task for any target`), which its clients branch on."""
    if response.status_code < 500:
        return None
    if (
        response.status_code == 503
        and case.path == "/api/submit"
        and "Failed to schedule task for any target" in response.text
    ):
        return None
    raise AssertionError(f"{response.status_code} from {case.method} {case.path}: {response.text[:300]}")


def _asks_beyond_a_user(body):
    """Whether a submit body asks for what the default policy keeps from users."""
    if not isinstance(body, dict):
        return False
    mounts = body.get("additional_mounts")
    return body.get("privileged") is True or body.get("container_name") == "NULL" or bool(mounts)


@schemathesis.check
def policy_holds_for_users(ctx, response, case):
    """In the `users` pass (a `user` token, the default [policy]): no submit that asks for a
    privileged container, a task without a container or a host mount is accepted."""
    if os.environ.get("HAKURIVER_FUZZ_PASS") != "users":
        return None
    if case.path == "/api/submit" and response.status_code < 300 and _asks_beyond_a_user(case.body):
        raise AssertionError(f"a user's submit beyond the policy was accepted: {case.body!r} -> {response.text[:300]}")
    return None
