//! A run whose answer is a typed Rust value: the model may call tools first, then answers with
//! JSON that follows `Itinerary`'s schema, which comes back as an `Itinerary`.
//!
//! ```text
//! cargo run --example structured_output                      # offline, a scripted model
//! FANOUT_MODEL=anthropic:claude-sonnet-4-5 cargo run --example structured_output
//! ```

use fanout::models::from_env_or_scripted;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::terminal::inert;
use schemars::JsonSchema;
use serde::Deserialize;

/// A plan for a short trip.
#[derive(Debug, Deserialize, JsonSchema)]
struct Itinerary {
    /// The destination city.
    city: String,
    /// How to get there.
    transport: Transport,
    /// One entry per day, in order.
    days: Vec<Day>,
    /// Total budget in euros, if the traveller gave one.
    budget_eur: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Transport {
    Train,
    Plane,
    Car,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Day {
    /// What to do.
    activities: Vec<String>,
    /// Indoor activities only, when the weather is bad.
    indoor: bool,
}

/// Get the weather forecast for a city
///
/// # Arguments
/// * `city` - The city
#[tool]
async fn forecast(city: String) -> String {
    format!("{city}: sunny on day 1, heavy rain on day 2")
}

#[tokio::main]
async fn main() -> fanout::Result<()> {
    let agent = Agent::builder()
        .model(from_env_or_scripted("openai:gpt-5-mini", offline_model())?)
        .tool(forecast)
        .instructions("Plan trips. Check the forecast before planning.")
        .output_schema::<Itinerary>()
        .build()?;
    // After one repair turn, an answer that still does not fit fails the run with an error that
    // names the field; the raw answer is kept.
    let plan: Itinerary = match agent.run("Plan two days in Lyon, by train.").await.and_then(|o| o.parse()) {
        Ok(plan) => plan,
        Err(err) => {
            if let Some(raw) = err.raw_output() {
                eprintln!("the model answered: {}", inert(raw));
            }
            return Err(err);
        }
    };
    println!("{} by {:?}, budget {:?}", inert(&plan.city), plan.transport, plan.budget_eur);
    for (n, day) in plan.days.iter().enumerate() {
        let place = if day.indoor { "indoors" } else { "outdoors" };
        println!("day {}: {} ({place})", n + 1, inert(&day.activities.join(", ")));
    }
    Ok(())
}

/// What the example plays without an API key: a forecast call, then the JSON answer.
fn offline_model() -> ScriptedModel {
    ScriptedModel::new([
        Turn::call("forecast", serde_json::json!({"city": "Lyon"})),
        Turn::text(
            r#"{"city": "Lyon", "transport": "train", "budget_eur": null, "days": [
                {"activities": ["Vieux Lyon", "Fourvière"], "indoor": false},
                {"activities": ["Musée des Confluences"], "indoor": true}]}"#,
        ),
    ])
}
