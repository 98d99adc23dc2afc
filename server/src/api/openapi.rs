//! `GET /api/openapi.json`: the REST API as an OpenAPI 3.1 document (what scripts, client
//! generators and the schemathesis fuzz run read), generated from the route table: each JSON
//! route's parameters, body and answers come from the Rust types the table names (their utoipa
//! `ToSchema`/`IntoParams`, derived beside the types in `hakuriver-model` behind its `openapi`
//! feature), its summary and access (`x-hakuriver-access`) from the table itself. The server
//! functions (`x-hakuriver-server-functions`) and the streams and websockets
//! (`x-hakuriver-streams`) are listed with their access too.

use axum::http::StatusCode;
use axum::Json;
use hakuriver_model::api::ErrorDetail;
use serde_json::{json, Map, Value};

use super::routes::{Kind, Route, ROUTES};
use crate::auth::policy::Access;

/// How a route's types become schemas: named types become components (and `$ref`s), the rest
/// is inlined.
pub mod schema {
    use utoipa::openapi::path::{Parameter, ParameterIn};
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{IntoParams, PartialSchema, ToSchema};

    /// The components a document gathers, name → schema.
    pub type Components = Vec<(String, RefOr<Schema>)>;
    /// A type's schema, adding the components it refers to.
    pub type SchemaFn = fn(&mut Components) -> RefOr<Schema>;
    /// A type's query parameters.
    pub type ParamsFn = fn() -> Vec<Parameter>;

    /// `T` written out where it is used (path parameters, plain text).
    pub fn inline<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
        T::schemas(components);
        T::schema()
    }

    /// `T` as a component, referred to by name.
    pub fn one<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
        let name = T::name();
        T::schemas(components);
        components.push((name.to_string(), T::schema()));
        RefOr::Ref(Ref::from_schema_name(name))
    }

    /// A JSON array of `T`.
    pub fn list<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
        ArrayBuilder::new().items(one::<T>(components)).into()
    }

    /// A JSON object of name → `T`.
    pub fn map<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
        ObjectBuilder::new().additional_properties(Some(one::<T>(components))).into()
    }

    /// A plain-text body.
    pub fn text<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
        inline::<T>(components)
    }

    pub fn params<T: IntoParams>() -> Vec<Parameter> {
        T::into_params(|| Some(ParameterIn::Query))
    }

    /// This document: an OpenAPI 3.1 object.
    pub struct Document;

    impl PartialSchema for Document {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .required("openapi")
                .required("paths")
                .description(Some("An OpenAPI 3.1 document"))
                .into()
        }
    }

    impl ToSchema for Document {}
}

/// A schema as JSON (a schema always serializes).
fn value(schema: impl serde::Serialize) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// The refusals a route can answer whatever it does: credentials and role (unless it is
/// public), what it was sent (when it takes anything), and the host's own failure.
fn common_refusals(route: &Route) -> Vec<(u16, &'static str)> {
    let doc = &route.doc;
    let mut refusals = Vec::new();
    if route.access != Access::Public {
        refusals.extend([(401, "no or bad credentials"), (403, "the role does not allow this")]);
    }
    if !doc.path.is_empty() {
        refusals.push((404, "not found"));
    }
    if !doc.path.is_empty() || doc.query.is_some() || doc.body.is_some() {
        refusals.push((422, "invalid input: the detail names the field"));
    }
    if doc.body.is_some() {
        refusals.extend([(413, "body over 16 MiB"), (415, "the body is not JSON")]);
    }
    refusals.push((500, "the host failed: the detail carries a request id to find in its log"));
    refusals
}

/// One route's operation.
fn operation(route: &Route, components: &mut schema::Components) -> Value {
    let doc = &route.doc;
    let mut parameters: Vec<Value> = doc
        .path
        .iter()
        .map(
            |(name, schema)| json!({"name": name, "in": "path", "required": true, "schema": value(schema(components))}),
        )
        .collect();
    if let Some(query) = doc.query {
        parameters.extend(query().into_iter().map(value));
    }
    let mut responses = Map::new();
    for answer in doc.answers {
        let reason = StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("success");
        responses.insert(
            answer.status.to_string(),
            json!({"description": reason, "content": {answer.media: {"schema": value((answer.schema)(components))}}}),
        );
    }
    let error = value(schema::one::<ErrorDetail>(components));
    for (status, why) in common_refusals(route).into_iter().chain(doc.refusals.iter().copied()) {
        let content = json!({"application/json": {"schema": error}});
        responses.insert(status.to_string(), json!({"description": why, "content": content}));
    }
    let mut op = json!({
        "operationId": route.handler.replace("::", "_"),
        "summary": route.summary,
        "description": format!("Needs: {}.", route.access.describe()),
        "x-hakuriver-access": route.access.as_str(),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = doc.body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": value(body(components))}}});
    }
    op
}

/// The document.
pub fn document_value() -> Value {
    let mut components = schema::Components::new();
    let mut paths = Map::new();
    for route in ROUTES.iter().filter(|r| r.kind == Kind::Json) {
        let op = operation(route, &mut components);
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.verb.as_str().to_ascii_lowercase()] = op;
    }
    let schemas: Map<String, Value> = components.into_iter().map(|(name, schema)| (name, value(schema))).collect();
    let server_fns: Vec<Value> = crate::auth::policy::server_fns()
        .map(|(name, role)| json!({"path": format!("/api/ui/{name}"), "access": role.as_str()}))
        .collect();
    // Streams and websockets are not REST operations a fuzzer can call; their access is stated
    // all the same.
    let streams: Vec<Value> = ROUTES
        .iter()
        .filter(|r| r.kind != Kind::Json)
        .map(|r| {
            let kind = if r.kind == Kind::Websocket { "websocket" } else { "stream" };
            json!({"method": r.verb.as_str(), "path": r.path, "kind": kind, "access": r.access.as_str(), "summary": r.summary})
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "HakuRiver host API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every path also answers under the original HakuRiver's bare paths (without /api) and under network.base_path. Errors are {\"detail\": ...} (with a machine-readable \"code\" where a client acts on it). With [auth] enabled, send Authorization: Bearer <token>.",
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
        "x-hakuriver-server-functions": server_fns,
        "x-hakuriver-streams": streams,
    })
}

pub async fn document() -> Json<Value> {
    Json(document_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_json_route_is_an_operation_with_its_access_parameters_and_answers() {
        let doc = document_value();
        let paths = doc["paths"].as_object().expect("paths");
        let described: usize = paths.values().map(|ops| ops.as_object().map_or(0, |o| o.len())).sum();
        let json_routes = ROUTES.iter().filter(|r| r.kind == Kind::Json).count();
        assert_eq!(described, json_routes, "every JSON route is described once");
        for route in ROUTES.iter().filter(|r| r.kind == Kind::Json) {
            let verb = route.verb.as_str().to_ascii_lowercase();
            let op = &doc["paths"][route.path][&verb];
            assert_eq!(op["x-hakuriver-access"], route.access.as_str(), "{verb} {}", route.path);
            assert!(!route.doc.answers.is_empty(), "{verb} {} names what it answers", route.path);
            // Each `{name}` of the path is a parameter with a schema, and no other is.
            let in_path: Vec<&str> = route
                .path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: Vec<&str> = route.doc.path.iter().map(|(name, _)| *name).collect();
            assert_eq!(in_path, declared, "{verb} {}", route.path);
            for answer in route.doc.answers {
                let content = &op["responses"][answer.status.to_string()]["content"][answer.media]["schema"];
                assert!(content.is_object(), "{verb} {}: {} has a schema", route.path, answer.status);
            }
            if route.doc.body.is_some() {
                assert!(op["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string());
            }
        }
        assert!(doc["x-hakuriver-server-functions"].as_array().is_some_and(|f| f.len() >= 18));
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document_value();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 50, "the operations refer to their types ({} refs)", refs.len());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("a local ref: {r}"));
            assert!(schemas.contains_key(name), "{r} is a component");
        }
    }

    #[test]
    fn the_types_shape_the_schemas() {
        let doc = document_value();
        let schemas = &doc["components"]["schemas"];
        // An enum of the wire words, a task id as a decimal string, a required field required.
        let words: Vec<&str> =
            schemas["TaskStatus"]["enum"].as_array().expect("enum").iter().filter_map(Value::as_str).collect();
        assert!(words.contains(&"killed_oom") && words.contains(&"pending"), "{words:?}");
        assert_eq!(schemas["TaskType"]["enum"], json!(["command", "vps"]));
        assert_eq!(schemas["ReplyCode"]["enum"], json!(["task_final", "task_unknown", "not_registered"]));
        let command = &doc["paths"]["/api/command/{id}/{command}"]["post"]["parameters"];
        assert_eq!(command[0]["schema"]["pattern"], "^[0-9]{1,20}$");
        assert!(schemas["TaskStatusUpdate"]["required"].as_array().expect("required").contains(&json!("task_id")));
        let submit = &doc["paths"]["/api/submit"]["post"];
        assert_eq!(
            submit["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/SubmitResponse"
        );
        assert_eq!(
            submit["responses"]["503"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorDetail"
        );
        let log = &doc["paths"]["/api/task/{id}/stdout"]["get"];
        assert_eq!(log["responses"]["200"]["content"]["text/plain"]["schema"]["type"], "string");
        let names: Vec<&str> =
            log["parameters"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["id", "offset", "tail", "limit"]);
    }

    #[test]
    fn object_keys_are_strings() {
        // JSON object keys are strings whatever the Rust map's key type: a schema that says
        // otherwise fails every answer that has one.
        fn walk(v: &Value, at: &str) {
            match v {
                Value::Object(map) => {
                    if let Some(names) = map.get("propertyNames") {
                        assert!(names.get("type").is_none_or(|t| t == "string"), "{at}: {names}");
                    }
                    map.iter().for_each(|(k, v)| walk(v, &format!("{at}/{k}")));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, at)),
                _ => {}
            }
        }
        walk(&document_value(), "#");
    }

    fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
