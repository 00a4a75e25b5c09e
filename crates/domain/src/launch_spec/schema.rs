//! `LaunchSpec`'s OpenAPI schema, written out rather than derived. Derived, a kind whose
//! record is a type of its own (`Npm(PackageSpec)`) is documented as a composition (`allOf`
//! the record and the tag); here each kind is one object, its record's fields and the
//! `runtime` tag, as the API has documented it from the start.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{CommandSpec, ImageSpec, LaunchSpec, PackageSpec, RemoteSpec, RuntimeKind};

/// The kinds in the order the document lists them: `LaunchSpec`'s.
const DOCUMENTED: [RuntimeKind; 5] = [
    RuntimeKind::Npm,
    RuntimeKind::Pypi,
    RuntimeKind::Http,
    RuntimeKind::Container,
    RuntimeKind::Command,
];

type Components = Vec<(String, RefOr<Schema>)>;

impl PartialSchema for LaunchSpec {
    fn schema() -> RefOr<Schema> {
        let kinds = DOCUMENTED.into_iter().map(tagged);
        kinds
            .fold(OneOfBuilder::new(), |one_of, kind| one_of.item(kind))
            .description(Some(
                "How an upstream is launched: a package fetched at install time and run with its\n\
                 interpreter, or a program of the host.",
            ))
            .into()
    }
}

impl ToSchema for LaunchSpec {
    fn schemas(schemas: &mut Components) {
        for kind in DOCUMENTED {
            record(kind, schemas);
        }
    }
}

/// A kind's record with its `runtime` tag, described as that kind.
fn tagged(kind: RuntimeKind) -> Object {
    let RefOr::T(Schema::Object(mut object)) = record(kind, &mut Vec::new()) else {
        unreachable!("a record's schema is an object")
    };
    let tag = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([kind.as_str()]));
    object.properties.insert("runtime".into(), tag.into());
    object.required.push("runtime".into());
    // The records refuse unknown fields, which the document has never said.
    object.additional_properties = None;
    match kind {
        RuntimeKind::Npm => {
            object.description = Some(
                "An npm package's binary, run with `node` from the install-time cache.".into(),
            );
        }
        RuntimeKind::Pypi => {
            object.description = Some(
                "A PyPI package's console script, run with `python` from the install-time cache."
                    .into(),
            );
            if let Some(RefOr::T(Schema::Object(bin))) = object.properties.get_mut("bin") {
                bin.description =
                    Some("The console script; the package's only one if left out.".into());
            }
        }
        RuntimeKind::Http | RuntimeKind::Container | RuntimeKind::Command => {}
    }
    object
}

/// A kind's record type: its schema, with the component schemas it refers to added to
/// `schemas`.
fn record(kind: RuntimeKind, schemas: &mut Components) -> RefOr<Schema> {
    fn of<Record: ToSchema>(schemas: &mut Components) -> RefOr<Schema> {
        Record::schemas(schemas);
        Record::schema()
    }
    match kind {
        RuntimeKind::Npm | RuntimeKind::Pypi => of::<PackageSpec>(schemas),
        RuntimeKind::Http => of::<RemoteSpec>(schemas),
        RuntimeKind::Container => of::<ImageSpec>(schemas),
        RuntimeKind::Command => of::<CommandSpec>(schemas),
    }
}
