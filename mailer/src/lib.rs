//! The Vigia mailer: the daily CCTV audit digest and urgent alerts, by email.
