//! The demo centres: each with a supervisor, three counsellors and its own referral directory.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::auth::credentials::username_key;
use crate::auth::roles::Role;
use crate::centres::Centre;
use crate::db::schema::{centres, service_providers, users};
use crate::db::DbConnection;
use crate::providers::model::{name_key, Provider, ProviderKind};
use crate::users::User;

/// Cities of Tajikistan's migrant resource centres, in the order demo centres open.
const CITIES: &[&str] = &[
    "Dushanbe",
    "Khujand",
    "Bokhtar",
    "Kulob",
    "Khorog",
    "Istaravshan",
    "Panjakent",
    "Isfara",
];

/// The kinds of service each demo centre's directory lists, one provider each.
pub const DIRECTORY: &[ProviderKind] = &[
    ProviderKind::LegalAid,
    ProviderKind::Health,
    ProviderKind::Shelter,
    ProviderKind::Employment,
    ProviderKind::Financial,
    ProviderKind::Government,
];

/// A demo centre and what its records are seeded against.
pub struct Desk {
    pub centre: Centre,
    /// The supervisor first, then the counsellors.
    pub staff: Vec<User>,
    pub providers: Vec<Provider>,
}

impl Desk {
    pub fn counsellors(&self) -> &[User] {
        &self.staff[1..]
    }
}

/// Opens `count` demo centres, named with `suffix` so that seeding twice adds new ones.
pub fn open_centres(
    conn: &mut DbConnection,
    count: usize,
    suffix: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<Desk>> {
    let mut desks = Vec::with_capacity(count);
    for index in 0..count {
        let city = CITIES[index % CITIES.len()];
        let tag = format!("{suffix}-{index}");
        let desk = Desk {
            centre: demo_centre(city, &tag, now),
            staff: Vec::new(),
            providers: Vec::new(),
        };
        let staff = demo_staff(&desk.centre.id, &tag, hash, now);
        let providers = directory(&desk.centre, &tag, now);
        diesel::insert_into(centres::table)
            .values(&desk.centre)
            .execute(conn)?;
        for user in &staff {
            diesel::insert_into(users::table)
                .values(user)
                .execute(conn)?;
        }
        for provider in &providers {
            diesel::insert_into(service_providers::table)
                .values(provider)
                .execute(conn)?;
        }
        desks.push(Desk {
            staff,
            providers,
            ..desk
        });
    }
    Ok(desks)
}

fn demo_centre(city: &str, tag: &str, now: NaiveDateTime) -> Centre {
    Centre {
        id: uuid::Uuid::now_v7().to_string(),
        name: format!("Demo MRC {city} {tag}"),
        city: city.into(),
        country: "TJ".into(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// A supervisor and three counsellors, all with the demo password.
fn demo_staff(centre_id: &str, tag: &str, hash: &str, now: NaiveDateTime) -> Vec<User> {
    [
        Role::Supervisor,
        Role::Counsellor,
        Role::Counsellor,
        Role::Counsellor,
    ]
    .into_iter()
    .enumerate()
    .map(|(index, role)| {
        let role_name = role.as_str();
        let username = format!("demo.{role_name}{index}.{tag}");
        User {
            id: uuid::Uuid::now_v7().to_string(),
            username_key: username_key(&username),
            username,
            full_name: format!("Demo {role_name} {index}"),
            email: None,
            role,
            centre_id: Some(centre_id.to_owned()),
            active: true,
            must_change_password: false,
            password_hash: hash.to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    })
    .collect()
}

/// The centre's own referral directory: one provider of each kind in [`DIRECTORY`].
fn directory(centre: &Centre, tag: &str, now: NaiveDateTime) -> Vec<Provider> {
    DIRECTORY
        .iter()
        .map(|kind| {
            let name = format!("Demo {} service {tag}", kind.as_str());
            Provider {
                id: uuid::Uuid::now_v7().to_string(),
                centre_id: Some(centre.id.clone()),
                name_key: name_key(&name),
                name,
                kind: *kind,
                description: None,
                address: None,
                city: Some(centre.city.clone()),
                country: Some("TJ".into()),
                phone: None,
                email: None,
                website: None,
                opening_hours: Some("Mon–Fri 9:00–17:00".into()),
                accepts_referrals: true,
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            }
        })
        .collect()
}
