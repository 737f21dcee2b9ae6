//! Synthetic but realistic prose for prompts, completions, tool results and retrieved chunks.
//!
//! Real LLM traffic mixes a long, constant system prompt per application with varied user
//! questions, retrieved passages and completions of a few hundred to a few thousand characters.
//! The text here is assembled from per-application vocabularies and sentence templates, so it
//! has the length distribution, the repetition (system prompts) and the variety (everything else)
//! of the real thing, deterministically from the caller's seeded RNG.

use rand::Rng;
use rand::seq::IndexedRandom;

/// One kind of application the corpus imitates: its vocabulary, prompts and tools.
pub struct Domain {
    pub service: &'static str,
    pub version: &'static str,
    pub agent: &'static str,
    pub agent_description: &'static str,
    pub system_prompt: &'static str,
    /// Extra policy paragraphs; prompt version N appends the first N of them.
    pub policies: &'static [&'static str],
    pub topics: &'static [&'static str],
    pub entities: &'static [&'static str],
    pub questions: &'static [&'static str],
    pub tools: &'static [Tool],
    /// A vector index this application retrieves from, if it does RAG.
    pub data_source: Option<&'static str>,
}

pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub argument: &'static str,
}

pub static DOMAINS: &[Domain] = &[
    Domain {
        service: "support-assistant",
        version: "2.14.1",
        agent: "customer_support",
        agent_description: "Answers customer questions about orders, shipping, returns and billing",
        system_prompt: "You are Aria, the customer support assistant for Northwind Outfitters, an online retailer of outdoor \
            clothing and equipment. Your goal is to resolve the customer's issue in as few turns as possible while being \
            warm, precise and honest. Always ground your answers in the order data, the help-center articles and the tool \
            results you are given; never invent order numbers, tracking links, prices or delivery dates. If the information \
            you need is missing, call the appropriate tool or ask one short clarifying question. Refunds up to 150 EUR may be \
            approved directly when the item was returned within 30 days; anything larger, anything outside the return window \
            and every chargeback must be escalated by creating a ticket for the billing team. Do not discuss internal \
            policies, supplier names or stock levels of other customers. Write in the language the customer uses. Keep \
            answers under 180 words unless the customer explicitly asks for detail, use short paragraphs, and end with a \
            concrete next step. When you quote a policy, cite the help-center article title in brackets.",
        policies: &[
            "\n\nEscalation policy: if the customer mentions a safety issue (a broken buckle on a climbing harness, a gas \
            leak on a stove, a defective avalanche transceiver) stop troubleshooting immediately, apologise, tell the customer \
            to stop using the product and create a priority ticket with category 'safety'. Never suggest a repair yourself.",
            "\n\nTone guide: mirror the customer's formality. Avoid filler phrases such as 'I understand your frustration' \
            more than once per conversation. Never blame the carrier or the warehouse by name. When a delay is our fault, say \
            so plainly and offer the standard goodwill voucher of 10 EUR once per order.",
            "\n\nPrivacy: never read back a full address, phone number or payment card number. Confirm identity with the \
            order number plus the postcode before discussing order contents. If identity cannot be confirmed, only share \
            general policy information.",
        ],
        topics: &[
            "a late delivery",
            "a damaged parcel",
            "a refund for a returned jacket",
            "an exchange for a smaller size",
            "a double charge on the credit card",
            "a missing item in the box",
            "the warranty on hiking boots",
            "a discount code that was not applied",
            "changing the delivery address",
            "a cancelled order",
            "the return label",
            "a gift card balance",
            "express shipping to Switzerland",
            "a pre-order date",
        ],
        entities: &[
            "order NW-48213",
            "order NW-50977",
            "the Alpine Pro 2 tent",
            "the Ridgeline down jacket",
            "the Trailblazer GTX boots",
            "a 40 L Summit backpack",
            "the merino base layer set",
            "DHL tracking 00340434",
            "invoice INV-2291",
            "the premium membership",
            "the Hydro 1L bottle",
            "the kids' rain suit",
        ],
        questions: &[
            "Hi, I need help with {topic}. It's about {entity}.",
            "Why hasn't {entity} arrived yet? I was told it would be here {time}.",
            "Can you explain what happens with {topic}? I'm a bit confused by the email I got.",
            "I returned {entity} {time} and still haven't seen the money back.",
            "Is it possible to sort out {topic} today? I'm travelling next week.",
            "My partner ordered {entity} and there is a problem with {topic}.",
        ],
        tools: &[
            Tool {
                name: "lookup_order",
                description: "Fetch an order with items, payments and shipments",
                argument: "order_id",
            },
            Tool {
                name: "get_shipment_status",
                description: "Carrier tracking events for a shipment",
                argument: "tracking_number",
            },
            Tool {
                name: "issue_refund",
                description: "Refund an order line up to the approved limit",
                argument: "order_line_id",
            },
            Tool {
                name: "create_ticket",
                description: "Escalate to a human team",
                argument: "summary",
            },
        ],
        data_source: Some("help-center-articles"),
    },
    Domain {
        service: "code-review-bot",
        version: "0.9.3",
        agent: "code_reviewer",
        agent_description: "Reviews pull requests, runs the tests and posts review comments",
        system_prompt: "You are a senior software engineer reviewing a pull request in a Rust and TypeScript monorepo. Review \
            for correctness first, then for concurrency and error handling, then for API design and readability. Every \
            comment must point to a file and line range and explain the concrete failure mode, not a matter of taste. Do not \
            comment on formatting: rustfmt and prettier run in CI. Prefer small, actionable suggestions with a code snippet. \
            If the change lacks a test for the behaviour it adds, say which test is missing. You may call tools to read files \
            at the pull request's head commit, search the code base and run the test suite of one crate or package. When \
            you are done, produce a summary with a verdict: approve, comment or request changes.",
        policies: &[
            "\n\nSecurity checklist: SQL built by string concatenation, secrets in logs, unbounded allocations driven by \
            request input, missing authorization checks on new endpoints, and TLS verification turned off are always \
            blocking issues. Quote the offending line.",
            "\n\nPerformance checklist: allocations inside hot loops, blocking I/O on async executors, N+1 queries, locks \
            held across await points. Flag them with an estimate of the cost when you can.",
        ],
        topics: &[
            "the retry loop in the ingest worker",
            "the new pagination API",
            "error handling in the upload handler",
            "the migration that adds a NOT NULL column",
            "lock contention in the cache",
            "the websocket reconnect logic",
            "the feature flag rollout",
            "the date parsing helper",
            "the batching of database writes",
            "the React hook that fetches user settings",
        ],
        entities: &[
            "src/ingest/worker.rs",
            "crates/api/src/pagination.rs",
            "web/src/hooks/useSettings.ts",
            "migrations/0042_add_owner.sql",
            "src/cache/lru.rs",
            "PR #1873",
            "PR #1902",
            "the CI job integration-tests",
            "services/billing/handler.ts",
            "lib/retry.rs",
        ],
        questions: &[
            "Please review {entity}. The change touches {topic}.",
            "Can you check whether {topic} in {entity} is safe under concurrent requests?",
            "CI is red on {entity} since {time}; is it related to {topic}?",
            "Review request: {topic}. Focus on {entity}, the rest is generated code.",
        ],
        tools: &[
            Tool {
                name: "read_file",
                description: "Read a file at the PR head commit",
                argument: "path",
            },
            Tool {
                name: "search_code",
                description: "Ripgrep across the repository",
                argument: "pattern",
            },
            Tool {
                name: "run_tests",
                description: "Run the tests of one crate or package",
                argument: "package",
            },
            Tool {
                name: "post_review_comment",
                description: "Post an inline review comment",
                argument: "body",
            },
        ],
        data_source: None,
    },
    Domain {
        service: "research-agent",
        version: "1.3.0",
        agent: "deep_research",
        agent_description: "Plans searches, reads sources and writes cited research briefs",
        system_prompt: "You are a meticulous research analyst. Given a question, plan a small number of targeted searches, \
            read the most relevant sources in full, and write a brief that answers the question directly in the first \
            paragraph and then supports it with evidence. Every factual claim must carry a numbered citation to a source you \
            actually read; never cite a search snippet alone. Prefer primary sources (papers, filings, official statistics) \
            over news coverage, and recent sources over old ones unless the question is historical. Call out disagreement \
            between sources and uncertainty explicitly. Use metric units. The brief should be 300 to 600 words with a short \
            bullet list of key numbers at the end.",
        policies: &[
            "\n\nSource quality: treat press releases and vendor blogs as claims, not evidence. If only one source supports \
            a number, say so. Do not use sources that require a login.",
            "\n\nFormatting: use level-2 markdown headings, at most four. Put citations as [n] after the sentence they \
            support and list the sources with title, publisher and year at the end.",
        ],
        topics: &[
            "battery recycling capacity in Europe",
            "the effect of remote work on office rents",
            "heat pump adoption in cold climates",
            "antibiotic resistance trends",
            "small modular reactor costs",
            "the carbon footprint of data centres",
            "microplastics in drinking water",
            "wage growth in logistics",
            "desalination energy use",
            "urban cycling infrastructure and safety",
        ],
        entities: &[
            "the 2024 IEA report",
            "Eurostat",
            "a Nature Energy paper",
            "the EU Battery Regulation",
            "the Fraunhofer ISE dataset",
            "WHO surveillance data",
            "a 2023 meta-analysis",
            "the OECD outlook",
            "the US EIA annual energy outlook",
            "three municipal case studies",
        ],
        questions: &[
            "What do we know about {topic}? Start from {entity} if it is relevant.",
            "Write a brief on {topic} for a non-technical board, focusing on the last five years.",
            "How reliable are the numbers in {entity} on {topic}?",
            "Compare the main estimates of {topic} and explain why they differ.",
        ],
        tools: &[
            Tool {
                name: "web_search",
                description: "Search the web and return the top results",
                argument: "query",
            },
            Tool {
                name: "fetch_url",
                description: "Download a page and extract its main text",
                argument: "url",
            },
            Tool {
                name: "read_pdf",
                description: "Extract text from a PDF",
                argument: "url",
            },
        ],
        data_source: Some("papers-index"),
    },
    Domain {
        service: "sales-copilot",
        version: "4.2.7",
        agent: "crm_copilot",
        agent_description: "Helps account executives prepare calls and draft follow-ups from CRM data",
        system_prompt: "You are a sales copilot for account executives at a B2B software company that sells workflow \
            automation. You can read the CRM (accounts, contacts, opportunities, activity history), draft emails and propose \
            meeting times. Be concise and specific: reference the prospect's actual situation from the CRM and the notes of \
            previous calls. Never promise discounts above 15 percent, roadmap dates or integrations that are not on the \
            public integrations page. Drafted emails must be under 150 words, have a clear subject line and a single call to \
            action. When asked to prepare a call, return the account context, open risks, the stakeholders and three \
            questions to ask.",
        policies: &[
            "\n\nCompliance: do not draft emails to contacts marked do-not-contact, and do not use personal data from \
            outside the CRM. For prospects in the EU, include the standard unsubscribe footer.",
        ],
        topics: &[
            "the renewal at Globex",
            "a stalled opportunity with Initech",
            "the pricing objection from Umbrella",
            "the security questionnaire for Hooli",
            "expanding seats at Stark Industries",
            "a champion who left Acme",
            "the quarterly business review with Wayne Enterprises",
            "a competitive deal against a legacy vendor",
        ],
        entities: &[
            "opportunity OPP-7731",
            "the VP of Operations",
            "last Tuesday's call notes",
            "the Enterprise plan",
            "the procurement team",
            "contract C-2024-118",
            "the pilot with 40 users",
            "the Salesforce integration",
        ],
        questions: &[
            "Prepare me for {topic}. We meet {time}.",
            "Draft a follow-up email about {topic} referencing {entity}.",
            "What are the risks on {entity}? Context: {topic}.",
            "Summarize the history of {topic} in five bullets.",
        ],
        tools: &[
            Tool {
                name: "query_crm",
                description: "Read CRM records",
                argument: "soql",
            },
            Tool {
                name: "draft_email",
                description: "Create an email draft in the rep's mailbox",
                argument: "to",
            },
            Tool {
                name: "find_meeting_slots",
                description: "Find free slots across calendars",
                argument: "attendees",
            },
        ],
        data_source: None,
    },
    Domain {
        service: "data-analyst",
        version: "0.22.0",
        agent: "sql_analyst",
        agent_description: "Answers business questions by writing and running SQL against the warehouse",
        system_prompt: "You are a data analyst with read-only access to the company's analytics warehouse (ClickHouse). \
            Answer business questions by inspecting table schemas, writing one or more SQL queries, running them and \
            explaining the result in plain language. Always check the schema before querying a table you have not seen in \
            this conversation. Prefer pre-aggregated tables (suffix _daily) for questions about more than 90 days. Limit \
            exploratory queries to 100 rows. State the exact time range and filters you used, round money to two decimals, \
            and mention data-quality caveats such as late-arriving events or test accounts. If a question is ambiguous, pick \
            the most common interpretation, say which one, and offer the alternative.",
        policies: &[
            "\n\nDefinitions: active user = at least one session longer than 10 seconds in the period; revenue = net of \
            refunds and VAT; churned = no paid subscription for 30 consecutive days. Exclude accounts flagged is_internal.",
            "\n\nCost control: never run a query without a time filter on the events table; it holds 40 billion rows.",
        ],
        topics: &[
            "weekly active users by country",
            "the drop in conversion since the pricing change",
            "revenue per cohort",
            "the churn rate of annual plans",
            "average order value by channel",
            "funnel drop-off on the checkout page",
            "support tickets per thousand orders",
            "the retention curve of March signups",
        ],
        entities: &[
            "the events table",
            "orders_daily",
            "subscriptions",
            "the marketing_attribution view",
            "the last 12 weeks",
            "Q3 versus Q2",
            "the EU region",
            "mobile users",
        ],
        questions: &[
            "What happened to {topic} over {entity}?",
            "Can you break down {topic} by {entity} and tell me what stands out?",
            "Finance says {topic} looks wrong in {entity}. Can you check?",
            "Give me {topic} for {entity}, with a short explanation.",
        ],
        tools: &[
            Tool {
                name: "describe_table",
                description: "Show columns and types of a table",
                argument: "table",
            },
            Tool {
                name: "run_sql",
                description: "Run a read-only SQL query",
                argument: "sql",
            },
            Tool {
                name: "make_chart",
                description: "Render a chart from a query result",
                argument: "spec",
            },
        ],
        data_source: None,
    },
];

static TIMES: &[&str] = &[
    "yesterday",
    "last Monday",
    "two weeks ago",
    "on the 3rd",
    "this morning",
    "tomorrow at 10",
    "before the end of the month",
    "three days ago",
    "next Thursday",
];

static CONTEXT_SENTENCES: &[&str] = &[
    "For context, this has been going on since {time} and affects {entity}.",
    "I already tried the steps from the documentation but nothing changed.",
    "The previous answer mentioned {topic}, but I don't think that applies here.",
    "We need this for a meeting {time}, so a short answer is fine.",
    "Please be specific about {entity}; the general explanation didn't help.",
    "Our team looked at {topic} last quarter and the numbers were {num} percent lower.",
    "I'm not sure whether {entity} is the right place to look.",
    "If it helps, the reference number is {num}-{num}.",
    "This is the {num}th time I'm asking about {topic}.",
    "My manager asked me to double-check {entity} before we commit to anything.",
];

static ANSWER_SENTENCES: &[&str] = &[
    "Based on {entity}, the short answer is that {topic} is expected to resolve within {num} days.",
    "I checked {entity} and found that {topic} was recorded {time}.",
    "There are two things to look at here: {topic} and the status of {entity}.",
    "The most likely cause is a mismatch between what {entity} reports and what you see for {topic}.",
    "To be precise, {num} percent of the cases like this are resolved without further action.",
    "Here is what I recommend as the next step: review {entity} and confirm the details of {topic}.",
    "I could not find evidence that {topic} affects {entity}, so I would not change anything yet.",
    "Note that {entity} was updated {time}, which explains the difference you noticed.",
    "If you need more detail on {topic}, I can pull the full history of {entity}.",
    "In summary, {topic} is on track, and {entity} needs one more confirmation from you.",
    "The figures I used cover the period up to {time} and exclude {num} outliers.",
    "One caveat: {entity} only reflects changes made before {time}.",
    "Compared with the previous period, {topic} moved by {num} percent, mostly because of {entity}.",
    "I have prepared the change for {entity}; it will take effect {time}.",
];

fn fill(rng: &mut impl Rng, template: &str, d: &Domain) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .unwrap_or(rest.len() - 1);
        match &rest[start + 1..end] {
            "topic" => out.push_str(d.topics.choose(rng).unwrap()),
            "entity" => out.push_str(d.entities.choose(rng).unwrap()),
            "time" => out.push_str(TIMES.choose(rng).unwrap()),
            "num" => out.push_str(&rng.random_range(2..=97).to_string()),
            other => out.push_str(other),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Fills a template picked at random from `templates`.
fn fill_one(rng: &mut impl Rng, templates: &[&'static str], d: &Domain) -> String {
    let template = *templates.choose(rng).unwrap();
    fill(rng, template, d)
}

/// The application's system prompt, in prompt version `version` (1-based).
pub fn system_prompt(d: &Domain, version: usize) -> String {
    let mut s = squash(d.system_prompt);
    for p in d.policies.iter().take(version.saturating_sub(1)) {
        s.push_str(&squash(p));
    }
    s
}

/// Collapses the source-code indentation of the multi-line literals above.
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// A user message: one question plus some context, 80 to ~1,500 characters.
pub fn user_prompt(rng: &mut impl Rng, d: &Domain) -> String {
    let mut s = fill_one(rng, d.questions, d);
    let extra = match rng.random_range(0..10) {
        0..=2 => 0,
        3..=6 => rng.random_range(1..=3),
        _ => rng.random_range(4..=9),
    };
    for _ in 0..extra {
        s.push(' ');
        s.push_str(&fill_one(rng, CONTEXT_SENTENCES, d));
    }
    s
}

/// An assistant answer of roughly `target` characters: paragraphs, sometimes a bullet list.
pub fn completion(rng: &mut impl Rng, d: &Domain, target: usize) -> String {
    let mut s = String::with_capacity(target + 200);
    while s.len() < target {
        if !s.is_empty() {
            s.push_str("\n\n");
        }
        if rng.random_bool(0.25) {
            for _ in 0..rng.random_range(2..=5) {
                s.push_str("- ");
                s.push_str(&fill_one(rng, ANSWER_SENTENCES, d));
                s.push('\n');
            }
        } else {
            for i in 0..rng.random_range(2..=5) {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&fill_one(rng, ANSWER_SENTENCES, d));
            }
        }
    }
    s
}

/// A plausible tool result (JSON text), roughly 100 to 1,500 characters.
pub fn tool_result(rng: &mut impl Rng, d: &Domain, tool: &Tool) -> String {
    let n = rng.random_range(1..=6);
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{}-{}", tool.argument, rng.random_range(10_000..99_999)),
                "rank": i + 1,
                "title": fill(rng, "{entity}: {topic}", d),
                "detail": fill_one(rng, ANSWER_SENTENCES, d),
                "updated": format!("2025-{:02}-{:02}T{:02}:{:02}:00Z", rng.random_range(1..=12), rng.random_range(1..=28),
                    rng.random_range(0..24), rng.random_range(0..60)),
            })
        })
        .collect();
    serde_json::json!({ "tool": tool.name, "ok": true, "results": items }).to_string()
}

/// Arguments the model passes to a tool.
pub fn tool_arguments(rng: &mut impl Rng, d: &Domain, tool: &Tool) -> serde_json::Value {
    let value = match tool.argument {
        "sql" | "soql" => format!(
            "SELECT country, count() AS users FROM {} WHERE day >= today() - {} GROUP BY country ORDER BY users DESC LIMIT 20",
            d.entities.choose(rng).unwrap().replace(' ', "_"),
            rng.random_range(7..=90)
        ),
        "url" => format!(
            "https://example.org/{}/{}",
            d.service,
            rng.random_range(1000..9999)
        ),
        _ => fill(rng, "{entity} {topic}", d),
    };
    serde_json::json!({ tool.argument: value })
}

/// Retrieved passages for RAG, formatted the way applications paste them into a prompt.
pub fn retrieved_context(rng: &mut impl Rng, d: &Domain, chunks: usize) -> String {
    let mut s = String::from("Use the following passages to answer. Cite them as [n].\n");
    for i in 1..=chunks {
        s.push_str(&format!("\n[{i}] {} — ", fill(rng, "{entity}", d)));
        let target = rng.random_range(250..800);
        let start = s.len();
        while s.len() - start < target {
            s.push_str(&fill_one(rng, ANSWER_SENTENCES, d));
            s.push(' ');
        }
    }
    s
}
