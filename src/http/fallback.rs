//! Answers for requests no handler took: 405 with `Allow` when the path exists with other
//! methods, 404 otherwise. The known paths come from the generated OpenAPI document, so the
//! fallback can never disagree with the routes that are really served.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

#[derive(Debug, Default)]
pub struct KnownRoutes {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Parameter,
}

impl KnownRoutes {
    pub fn from_openapi(openapi: &utoipa::openapi::OpenApi) -> Self {
        let routes = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = split(path)
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect();
                let methods: Vec<String> = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(method, _)| method.to_owned())
                .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    fn allowed_methods(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = split(path).collect();
        self.routes
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| match segment {
                            Segment::Literal(literal) => literal == part,
                            Segment::Parameter => !part.is_empty(),
                        })
            })
            .map(|(_, methods)| methods.join(", "))
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
}

pub async fn not_matched(
    req: HttpRequest,
    known: web::Data<KnownRoutes>,
) -> Result<HttpResponse, ApiError> {
    Err(match known.allowed_methods(req.path()) {
        // The method is allowed, so the path only resembles a route (`/me/`, `//users`).
        Some(allow) if allow.split(", ").any(|m| m == req.method().as_str()) => {
            ApiError::not_found("route")
        }
        Some(allow) => ApiError::method_not_allowed(allow),
        None => ApiError::not_found("route"),
    })
}
