pub mod export;
pub mod fetcher;
pub mod receipts;
pub mod safe_name;
