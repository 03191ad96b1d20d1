//! The answers of the metadata calls: `GetSqlInfo`, `GetXdbcTypeInfo`, and the empty key
//! answers (tables here have no primary or foreign keys).
//!
//! Tables are listed in one catalog and one schema, [`CATALOG`].[`SCHEMA`]; statements name
//! tables by their name alone.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{Nullable, Searchable, SqlInfo, SqlSupportedCaseSensitivity, XdbcDataType};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The one catalog tables are listed in.
pub const CATALOG: &str = "polars_adaptive";
/// The one schema tables are listed in.
pub const SCHEMA: &str = "main";
/// The type of every table.
pub const TABLE_TYPE: &str = "TABLE";

pub(crate) fn sql_info() -> SqlInfoData {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "polars-adaptive");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "60.1.0");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    // Identifiers match as written, quoted or not: no folding to report.
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.build().expect("the server's SqlInfo is well-formed")
}

pub(crate) fn xdbc_type_info() -> XdbcTypeInfoData {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let types: [(&str, XdbcDataType, Option<i32>); 12] = [
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1)),
        ("TINYINT", XdbcDataType::XdbcTinyint, Some(3)),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(5)),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(10)),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(19)),
        ("REAL", XdbcDataType::XdbcReal, Some(24)),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(53)),
        ("DECIMAL", XdbcDataType::XdbcDecimal, Some(38)),
        ("VARCHAR", XdbcDataType::XdbcVarchar, None),
        ("VARBINARY", XdbcDataType::XdbcVarbinary, None),
        ("DATE", XdbcDataType::XdbcDate, None),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp, None),
    ];
    for (name, data_type, column_size) in types {
        let numeric = column_size.is_some() && name != "BOOLEAN";
        b.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type,
            column_size,
            literal_prefix: matches!(name, "VARCHAR" | "DATE" | "TIMESTAMP").then(|| "'".into()),
            literal_suffix: matches!(name, "VARCHAR" | "DATE" | "TIMESTAMP").then(|| "'".into()),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: name == "VARCHAR",
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: name == "DECIMAL",
            auto_increment: numeric.then_some(false),
            local_type_name: Some(name.into()),
            minimum_scale: None,
            maximum_scale: (name == "DECIMAL").then_some(38),
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: numeric.then_some(10),
            interval_precision: None,
        });
    }
    b.build().expect("the server's type list is well-formed")
}

/// `GetPrimaryKeys`' schema, for its empty answer.
pub(crate) fn primary_keys_schema() -> SchemaRef {
    let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        s("catalog_name", true),
        s("db_schema_name", true),
        s("table_name", false),
        s("column_name", false),
        s("key_name", true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// The schema of `GetExportedKeys`, `GetImportedKeys` and `GetCrossReference`, for their
/// empty answers.
pub(crate) fn foreign_keys_schema() -> SchemaRef {
    let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        s("pk_catalog_name", true),
        s("pk_db_schema_name", true),
        s("pk_table_name", false),
        s("pk_column_name", false),
        s("fk_catalog_name", true),
        s("fk_db_schema_name", true),
        s("fk_table_name", false),
        s("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        s("fk_key_name", true),
        s("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

pub(crate) fn empty(schema: SchemaRef) -> RecordBatch {
    RecordBatch::new_empty(schema)
}
