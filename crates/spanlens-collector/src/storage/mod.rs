//! ClickHouse storage: typed rows, their RowBinary encoding, migrations (with their cluster
//! forms) and the client.

pub mod clickhouse;
pub mod migrate;
pub mod row;
pub mod rowbinary;
pub(crate) mod topology;
