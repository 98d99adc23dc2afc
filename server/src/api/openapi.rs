//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.0 (what scripts and the
//! schemathesis fuzz run read). Kept beside the routes in `api::router`; a test checks that every
//! route there is described here.

use axum::Json;
use serde_json::{json, Value};

/// A path parameter, a query parameter.
fn path_param(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

fn id() -> Value {
    path_param("id", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}))
}

fn env_name() -> Value {
    path_param("name", json!({"type": "string", "minLength": 1, "maxLength": 128}))
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// An operation: who may call it, its parameters, body and documented answers.
fn op(summary: &str, role: &str, params: Vec<Value>, body: Option<Value>, ok: &str) -> Value {
    let mut responses = json!({
        ok: {"description": "success"},
        "401": {"description": "no or bad credentials", "content": detail()},
        "403": {"description": "the role does not allow this", "content": detail()},
        "404": {"description": "not found", "content": detail()},
        "422": {"description": "invalid input", "content": detail()},
    });
    if body.is_some() {
        responses["413"] = json!({"description": "body over 16 MiB", "content": detail()});
        responses["415"] = json!({"description": "the body is not JSON", "content": detail()});
    }
    let mut op = json!({
        "summary": summary,
        "description": format!("Needs: {role}."),
        "parameters": params,
        "responses": responses,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn detail() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}})
}

fn task_query() -> Vec<Value> {
    vec![
        query("status", json!({"type": "string"})),
        query("node", json!({"type": "string"})),
        query("batch", json!({"type": "string"})),
        query("q", json!({"type": "string"})),
        query("task_type", json!({"type": "string"})),
        query("cursor", json!({"type": "string"})),
        query("limit", json!({"type": "integer", "minimum": 0})),
    ]
}

fn log_query() -> Vec<Value> {
    vec![
        id(),
        query("offset", json!({"type": "integer", "minimum": 0})),
        query("tail", json!({"type": "integer", "minimum": 0})),
        query("limit", json!({"type": "integer", "minimum": 0})),
    ]
}

fn schemas() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "ErrorDetail": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
        "TaskRequest": {"type": "object", "properties": {
            "task_type": {"type": "string", "enum": ["command", "vps"]},
            "command": {"type": "string"},
            "arguments": strings,
            "env_vars": {"type": "object", "additionalProperties": {"type": "string"}},
            "required_cores": {"type": "integer", "minimum": 0},
            "required_gpus": {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}},
            "required_memory_bytes": {"type": "integer", "minimum": 0},
            "targets": strings,
            "container_name": {"type": "string"},
            "privileged": {"type": "boolean"},
            "additional_mounts": strings,
            "queue": {"type": "boolean"},
            "argument_sets": {"type": "array", "items": strings},
            "image": {"type": "string", "minLength": 1, "maxLength": 512},
        }},
        "RunnerInfo": {"type": "object", "required": ["hostname", "total_cores", "total_ram_bytes", "runner_url"], "properties": {
            "hostname": {"type": "string"},
            "total_cores": {"type": "integer", "minimum": 0},
            "total_ram_bytes": {"type": "integer", "minimum": 0},
            "runner_url": {"type": "string"},
            "numa_topology": {"type": "object"},
            "gpu_info": {"type": "array", "items": {"type": "object"}},
        }},
        "HeartbeatData": {"type": "object", "properties": {
            "running_tasks": {"type": "array", "items": {"type": "string"}},
            "killed_tasks": {"type": "array", "items": {"type": "object", "properties": {"task_id": {"type": "string"}, "reason": {"type": "string"}}}},
            "cpu_percent": {"type": "number"},
            "memory_percent": {"type": "number"},
            "memory_used_bytes": {"type": "integer", "minimum": 0},
            "memory_total_bytes": {"type": "integer", "minimum": 0},
            "current_avg_temp": {"type": "number"},
            "current_max_temp": {"type": "number"},
            "gpu_info": {"type": "array", "items": {"type": "object"}},
        }},
        "TaskStatusUpdate": {"type": "object", "required": ["task_id", "status"], "properties": {
            "task_id": {"type": "string"},
            "status": {"type": "string"},
            "exit_code": {"type": "integer"},
            "message": {"type": "string"},
            "ssh_port": {"type": "integer", "minimum": 0, "maximum": 65535},
        }},
        "CreateEnvRequest": {"type": "object", "required": ["image_name", "container_name"], "properties": {
            "image_name": {"type": "string"}, "container_name": {"type": "string"},
        }},
        "ImportRequest": {"type": "object", "properties": {
            "name": {"type": "string"}, "source": {"type": "string"}, "path": {"type": "string"},
        }},
        "VpsSaveRequest": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]*$"},
            "background": {"type": "boolean"},
        }},
        "TokenRequest": {"type": "object", "required": ["name", "role"], "properties": {
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["viewer", "user", "operator", "admin"]},
            "expires_in_days": {"type": "integer", "minimum": 0},
        }},
    })
}

fn schema_ref(name: &str) -> Value {
    json_body(json!({"$ref": format!("#/components/schemas/{name}")}))
}

/// The document.
pub fn build() -> Value {
    let mut submit =
        op("Submit tasks (one per target and argument set)", "user", vec![], Some(schema_ref("TaskRequest")), "202");
    submit["responses"]["400"] = json!({"description": "a request the original refuses", "content": detail()});
    submit["responses"]["503"] =
        json!({"description": "every named target failed (the original's contract)", "content": detail()});
    let mut kill = op("Kill a task", "user (own tasks), operator", vec![id()], None, "202");
    kill["responses"]["409"] = json!({"description": "the task is over", "content": detail()});
    let mut command = op(
        "Pause or resume a task; stop (disk kept) or start a VPS",
        "user (own tasks), operator",
        vec![
            id(),
            path_param("command", json!({"type": "string", "enum": ["kill", "pause", "resume", "stop", "start"]})),
        ],
        None,
        "200",
    );
    command["responses"]["400"] = json!({"description": "not in a state for this", "content": detail()});
    command["responses"]["502"] = json!({"description": "the runner did not confirm", "content": detail()});
    let mut register = op("Register a runner", "runner token", vec![], Some(schema_ref("RunnerInfo")), "200");
    register["responses"]["409"] =
        json!({"description": "the node name belongs to another runner", "content": detail()});
    let mut heartbeat = op(
        "A runner's heartbeat",
        "runner token",
        vec![path_param("hostname", json!({"type": "string"}))],
        Some(schema_ref("HeartbeatData")),
        "200",
    );
    heartbeat["responses"]["404"] = json!({"description": "unknown node: register again", "content": detail()});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "HakuRiver host API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every path also answers under the original HakuRiver's bare paths (without /api) and under network.base_path. Errors are {\"detail\": ...}. With [auth] enabled, send Authorization: Bearer <token>.",
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
        "paths": {
            "/api/health": {"get": op("Cluster health: the last minute of samples per node", "viewer", vec![query("hostname", json!({"type": "string"}))], None, "200")},
            "/api/nodes": {"get": op("Every node", "viewer", vec![], None, "200")},
            "/api/nodes/{hostname}": {"get": op("One node", "viewer", vec![path_param("hostname", json!({"type": "string"}))], None, "200")},
            "/api/nodes/{hostname}/release": {"post": op("Let another runner take a node name", "admin", vec![path_param("hostname", json!({"type": "string"}))], None, "200")},
            "/api/register": {"post": register},
            "/api/heartbeat/{hostname}": {"put": heartbeat},
            "/api/update": {"post": op("A runner's task status report", "runner token", vec![], Some(schema_ref("TaskStatusUpdate")), "200")},
            "/api/submit": {"post": submit},
            "/api/status/{id}": {"get": op("One task", "viewer", vec![id()], None, "200")},
            "/api/tasks": {"get": op("Command tasks, newest first (at most 5000)", "viewer", task_query(), None, "200")},
            "/api/tasks/page": {"get": op("A page of tasks with a cursor", "viewer", task_query(), None, "200")},
            "/api/kill/{id}": {"post": kill},
            "/api/command/{id}/{command}": {"post": command},
            "/api/task/{id}/stdout": {"get": op("A task's standard output", "viewer", log_query(), None, "200")},
            "/api/task/{id}/stderr": {"get": op("A task's standard error", "viewer", log_query(), None, "200")},
            "/api/vps/status": {"get": op("VPS tasks that are not over", "viewer", vec![], None, "200")},
            "/api/vps": {"get": op("Every VPS task", "viewer", task_query(), None, "200")},
            "/api/vps/{id}/save": {"post": op("Save a VPS (running, paused or stopped) as a new tarball version of an environment; 202 with an operation id when `background`", "operator", vec![id()], Some(schema_ref("VpsSaveRequest")), "200")},
            "/api/vps/{id}/snapshots": {"get": op("The tarballs saved from a VPS, newest first, and whether each is still kept", "viewer", vec![id()], None, "200")},
            "/api/vps/{id}/ticket": {"post": op("A single-use ticket for one SSH tunnel to the VPS (REQUEST_TUNNEL <id> <ticket>)", "user (its owner), operator", vec![id()], None, "200")},
            "/api/docker/host/containers": {"get": op("The host's environment containers", "viewer", vec![], None, "200")},
            "/api/docker/host/create": {"post": op("Create an environment container", "operator", vec![], Some(schema_ref("CreateEnvRequest")), "200")},
            "/api/docker/host/delete/{name}": {"post": op("Delete an environment container", "operator", vec![env_name()], None, "200")},
            "/api/docker/host/stop/{name}": {"post": op("Stop an environment container", "operator", vec![env_name()], None, "200")},
            "/api/docker/host/start/{name}": {"post": op("Start an environment container", "operator", vec![env_name()], None, "200")},
            "/api/docker/create_tar/{name}": {"post": op("Save an environment as a new tarball", "operator", vec![env_name()], None, "200")},
            "/api/docker/list": {"get": op("Environment tarballs", "viewer", vec![], None, "200")},
            "/api/docker/import": {"post": op("Import an image or root file system as an environment", "operator", vec![], Some(schema_ref("ImportRequest")), "202")},
            "/api/docker/versions": {"get": op("Tarball versions per node", "viewer", vec![], None, "200")},
            "/api/operations": {"get": op("Long operations", "viewer", vec![], None, "200")},
            "/api/operations/{id}": {
                "get": op("One operation", "viewer", vec![path_param("id", json!({"type": "integer", "minimum": 0}))], None, "200"),
                "delete": op("Cancel an operation", "operator", vec![path_param("id", json!({"type": "integer", "minimum": 0}))], None, "200"),
            },
            "/api/auth/tokens": {
                "get": op("API tokens (never their secrets)", "admin", vec![], None, "200"),
                "post": op("Create a token: the answer is the only time its secret is shown", "admin", vec![], Some(schema_ref("TokenRequest")), "201"),
            },
            "/api/auth/tokens/{id}": {"delete": op("Revoke a token (and end its logins)", "admin", vec![path_param("id", json!({"type": "string"}))], None, "200")},
            "/api/auth/whoami": {"get": op("Who the credentials belong to", "viewer", vec![], None, "200")},
        },
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rest_route_is_described() {
        let doc = super::build();
        let paths = doc["paths"].as_object().expect("paths");
        let source = include_str!("mod.rs");
        // Websockets, streams and the document itself are not fuzzable REST operations.
        let undocumented = ["/api/events", "/api/openapi.json", "/follow", "/terminal", "/forward/{port}"];
        for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
            let path = line.split('"').nth(1).expect("a route path");
            if undocumented.iter().any(|u| path.ends_with(u)) {
                continue;
            }
            assert!(paths.contains_key(path), "{path} is not in the OpenAPI document");
        }
    }
}
