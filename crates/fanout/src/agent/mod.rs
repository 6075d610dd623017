//! agent
/// stub
#[derive(Debug)]
pub struct Agent;
/// stub
#[derive(Debug)]
pub struct AgentBuilder;
