//! Prints the OpenAPI document (for checking it in and diffing).
fn main() {
    match keyward_server::openapi().to_pretty_json() {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot serialize the OpenAPI document: {e}"),
    }
}
