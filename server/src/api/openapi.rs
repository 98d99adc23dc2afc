//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.0 (what scripts and the
//! schemathesis fuzz run read). Summaries and access come from the route table
//! (`x-hakuriver-access` on each operation; the server functions' in
//! `x-hakuriver-server-functions`); parameters and bodies are described here, and a test checks
//! that the two name the same JSON routes.

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

/// An operation: its parameters, body and documented answers (its summary and access come from
/// the route table).
fn op(params: Vec<Value>, body: Option<Value>, ok: &str) -> Value {
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
    let mut submit = op(vec![], Some(schema_ref("TaskRequest")), "202");
    submit["responses"]["400"] = json!({"description": "a request the original refuses", "content": detail()});
    submit["responses"]["503"] =
        json!({"description": "every named target failed (the original's contract)", "content": detail()});
    let mut kill = op(vec![id()], None, "202");
    kill["responses"]["409"] = json!({"description": "the task is over", "content": detail()});
    let mut command = op(
        vec![
            id(),
            path_param("command", json!({"type": "string", "enum": ["kill", "pause", "resume", "stop", "start"]})),
        ],
        None,
        "200",
    );
    command["responses"]["400"] = json!({"description": "not in a state for this", "content": detail()});
    command["responses"]["502"] = json!({"description": "the runner did not confirm", "content": detail()});
    let mut register = op(vec![], Some(schema_ref("RunnerInfo")), "200");
    register["responses"]["409"] =
        json!({"description": "the node name belongs to another runner", "content": detail()});
    let mut heartbeat =
        op(vec![path_param("hostname", json!({"type": "string"}))], Some(schema_ref("HeartbeatData")), "200");
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
            "/api/health": {"get": op(vec![query("hostname", json!({"type": "string"}))], None, "200")},
            "/api/nodes": {"get": op(vec![], None, "200")},
            "/api/nodes/{hostname}": {"get": op(vec![path_param("hostname", json!({"type": "string"}))], None, "200")},
            "/api/nodes/{hostname}/release": {"post": op(vec![path_param("hostname", json!({"type": "string"}))], None, "200")},
            "/api/register": {"post": register},
            "/api/heartbeat/{hostname}": {"put": heartbeat},
            "/api/update": {"post": op(vec![], Some(schema_ref("TaskStatusUpdate")), "200")},
            "/api/submit": {"post": submit},
            "/api/status/{id}": {"get": op(vec![id()], None, "200")},
            "/api/tasks": {"get": op(task_query(), None, "200")},
            "/api/tasks/page": {"get": op(task_query(), None, "200")},
            "/api/kill/{id}": {"post": kill},
            "/api/command/{id}/{command}": {"post": command},
            "/api/task/{id}/stdout": {"get": op(log_query(), None, "200")},
            "/api/task/{id}/stderr": {"get": op(log_query(), None, "200")},
            "/api/vps/status": {"get": op(vec![], None, "200")},
            "/api/vps": {"get": op(task_query(), None, "200")},
            "/api/vps/{id}/save": {"post": op(vec![id()], Some(schema_ref("VpsSaveRequest")), "200")},
            "/api/vps/{id}/snapshots": {"get": op(vec![id()], None, "200")},
            "/api/vps/{id}/ticket": {"post": op(vec![id()], None, "200")},
            "/api/docker/host/containers": {"get": op(vec![], None, "200")},
            "/api/docker/host/create": {"post": op(vec![], Some(schema_ref("CreateEnvRequest")), "200")},
            "/api/docker/host/delete/{name}": {"post": op(vec![env_name()], None, "200")},
            "/api/docker/host/stop/{name}": {"post": op(vec![env_name()], None, "200")},
            "/api/docker/host/start/{name}": {"post": op(vec![env_name()], None, "200")},
            "/api/docker/create_tar/{name}": {"post": op(vec![env_name()], None, "200")},
            "/api/docker/list": {"get": op(vec![], None, "200")},
            "/api/docker/import": {"post": op(vec![], Some(schema_ref("ImportRequest")), "202")},
            "/api/docker/versions": {"get": op(vec![], None, "200")},
            "/api/operations": {"get": op(vec![], None, "200")},
            "/api/operations/{id}": {
                "get": op(vec![path_param("id", json!({"type": "integer", "minimum": 0}))], None, "200"),
                "delete": op(vec![path_param("id", json!({"type": "integer", "minimum": 0}))], None, "200"),
            },
            "/api/auth/tokens": {
                "get": op(vec![], None, "200"),
                "post": op(vec![], Some(schema_ref("TokenRequest")), "201"),
            },
            "/api/auth/tokens/{id}": {"delete": op(vec![path_param("id", json!({"type": "string"}))], None, "200")},
            "/api/openapi.json": {"get": op(vec![], None, "200")},
            "/api/auth/whoami": {"get": op(vec![], None, "200")},
        },
    })
}

/// The document, with each operation's summary and access from the route table.
pub fn document_value() -> Value {
    let mut doc = build();
    for route in super::ROUTES.iter().filter(|r| r.kind == super::RouteKind::Json) {
        let op = &mut doc["paths"][route.path][route.verb.as_str().to_ascii_lowercase()];
        if op.is_object() {
            op["summary"] = json!(route.summary);
            op["description"] = json!(format!("Needs: {}.", route.access.describe()));
            op["x-hakuriver-access"] = json!(route.access.as_str());
        }
    }
    let server_fns: Vec<Value> = crate::auth::policy::server_fns()
        .map(|(name, role)| json!({"path": format!("/api/ui/{name}"), "access": role.as_str()}))
        .collect();
    doc["x-hakuriver-server-functions"] = json!(server_fns);
    // Streams and websockets are not REST operations a fuzzer can call; their access is stated
    // all the same.
    let streams: Vec<Value> = super::ROUTES
        .iter()
        .filter(|r| r.kind != super::RouteKind::Json)
        .map(|r| {
            let kind = if r.kind == super::RouteKind::Websocket { "websocket" } else { "stream" };
            json!({"method": r.verb.as_str(), "path": r.path, "kind": kind, "access": r.access.as_str(), "summary": r.summary})
        })
        .collect();
    doc["x-hakuriver-streams"] = json!(streams);
    doc
}

pub async fn document() -> Json<Value> {
    Json(document_value())
}

#[cfg(test)]
mod tests {
    use super::super::{RouteKind, ROUTES};

    #[test]
    fn the_document_and_the_route_table_name_the_same_json_routes() {
        let doc = super::document_value();
        let paths = doc["paths"].as_object().expect("paths");
        let mut described = 0;
        for (path, ops) in paths {
            for (verb, op) in ops.as_object().expect("operations") {
                described += 1;
                let route = ROUTES.iter().find(|r| r.path == path && r.verb.as_str().eq_ignore_ascii_case(verb));
                let route = route.unwrap_or_else(|| panic!("{verb} {path} is described but not routed"));
                assert_eq!(op["x-hakuriver-access"], route.access.as_str(), "{verb} {path}");
                assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{verb} {path}");
            }
        }
        let json_routes = ROUTES.iter().filter(|r| r.kind == RouteKind::Json).count();
        assert_eq!(described, json_routes, "every JSON route is described");
        assert!(doc["x-hakuriver-server-functions"].as_array().is_some_and(|f| f.len() >= 18));
    }
}
