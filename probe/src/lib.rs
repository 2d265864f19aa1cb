//! The Vigia site probe: walks recorder folders and reports their health to the collector.
