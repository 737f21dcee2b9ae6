//! ClickHouse storage: typed rows, their RowBinary encoding, migrations and the client.

pub mod clickhouse;
pub mod migrate;
pub mod row;
pub mod rowbinary;
