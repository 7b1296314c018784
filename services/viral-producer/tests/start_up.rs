//! `viral-producer` validates its configuration before anything runs and refuses the
//! in-memory bus, saying why (checks shared by the three services).

viral_integration_tests::start_up_tests!("viral-producer");
