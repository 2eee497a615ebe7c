//! The tutorial's IoT sensor scenario: readings, classification, simulator.
