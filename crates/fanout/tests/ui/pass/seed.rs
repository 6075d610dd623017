use fanout::prelude::*;

/// Simulate a task
///
/// # Arguments
/// * `delay` - The amount of time to delay the task
#[tool]
pub async fn atask1(delay: u64) -> String {
    format!("Task 1 completed in {delay}s")
}

/// A plain function
#[tool]
fn task2(mut delay: u64, label: Option<String>) -> std::io::Result<u64> {
    delay += label.map_or(0, |l| l.len() as u64);
    Ok(delay)
}

fn main() {
    let tools = tools![atask1, task2];
    assert_eq!(tools.len(), 2);
}
