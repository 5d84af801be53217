use actix_web::{get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::model::{Caseload, ListCaseloads};
use super::queries::{centres_page, people_page, Measures};
use crate::auth::roles::{CentreStaff, Guard, Role};
use crate::auth::staff::Staff;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{Page, PageLimit, Query};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_caseloads);
}

/// Caseloads: each staff member of the supervisor's centre, or the counsellor's own
/// (`kind: "staff"`); for admins, each centre's totals (`kind: "centre"`), no one named.
#[utoipa::path(
    tag = "caseloads",
    params(ListCaseloads),
    responses((status = 200, description = "A page of caseloads", body = Page<Caseload>)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/caseloads")]
async fn list_caseloads(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<ListCaseloads>,
) -> Result<web::Json<Page<Caseload>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    if staff.role == Role::Admin {
        let page = crate::db::run(&state.pool, move |conn| {
            Ok(centres_page(conn, after, limit)?.map(Caseload::Centre))
        })
        .await?;
        return Ok(web::Json(page));
    }
    let staff = CentreStaff::admit(staff)
        .ok_or_else(|| ApiError::forbidden("staff without a centre carry no caseload"))?;
    let page = crate::db::run(&state.pool, move |conn| {
        // A counsellor sees only their own caseload.
        let only_user = staff.is_counsellor().then_some(staff.id.as_str());
        let people = people_page(conn, &staff.centre_id, only_user, after, limit)?;
        let ids: Vec<String> = people.items.iter().map(|p| p.id.clone()).collect();
        let mut measures = Measures::load(conn, &staff.centre_id, &ids)?;
        Ok(people.map(|person| Caseload::Staff(measures.caseload(person))))
    })
    .await?;
    Ok(web::Json(page))
}
