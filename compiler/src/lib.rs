//! zlmc library: frontend, passes, driver.
