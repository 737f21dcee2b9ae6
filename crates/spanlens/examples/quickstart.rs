use spanlens::Usage;

#[tokio::main]
async fn main() -> Result<(), spanlens::Error> {
    let _guard = spanlens::builder()
        .service_name("quickstart")
        .from_env()
        .init()?;
    println!("{}", answer("What is OTLP?").await);
    spanlens::shutdown().await // flush before exit
}

#[spanlens::observe(as = "generation")]
async fn answer(question: &str) -> String {
    let reply = format!("You asked: {question}"); // call your model here
    let llm = spanlens::current_llm();
    llm.set_provider("openai");
    llm.set_model("gpt-4o-mini");
    llm.set_usage(Usage::new(12, 5));
    reply
}
