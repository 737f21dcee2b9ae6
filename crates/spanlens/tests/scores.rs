//! `spanlens::score` posts the documented JSON to `{http_endpoint}/v1/scores` with the API key.
//! (The collector's endpoint is separate work; a one-shot HTTP listener stands in for it.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use serde_json::{Value, json};
use spanlens::{ObservationType, Score};

/// Accepts one request, answers `status`, returns (request line, headers, body).
fn one_request(
    listener: TcpListener,
    status: &'static str,
) -> std::thread::JoinHandle<(String, Vec<String>, Vec<u8>)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut headers = Vec::new();
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            headers.push(h.to_ascii_lowercase());
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope"
        )
        .unwrap();
        (line.trim_end().to_string(), headers, body)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_is_posted_as_documented_json() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = format!("http://{}", listener.local_addr().unwrap());
    let server = one_request(listener, "200 OK");

    let guard = spanlens::builder()
        .endpoint("http://127.0.0.1:9") // spans go nowhere in this test
        .http_endpoint(&http)
        .api_key("sk-score")
        .init()
        .unwrap();
    let obs = spanlens::observation("answer", ObservationType::Agent).start();
    let score = Score::numeric("helpfulness", 0.75)
        .id("score-1")
        .for_span(&obs)
        .session_id("sess-9")
        .comment("good")
        .source("EVAL")
        .metadata("judge", "gpt-4o");
    let expected_trace = (obs.trace_id().unwrap(), obs.span_id().unwrap());
    spanlens::score(score).await.expect("score accepted");

    let (line, headers, body) = server.join().unwrap();
    assert_eq!(line, "POST /v1/scores HTTP/1.1");
    assert!(
        headers.contains(&"authorization: bearer sk-score".to_string()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"content-type: application/json".to_string()),
        "{headers:?}"
    );
    let mut body: Value = serde_json::from_slice(&body).unwrap();
    let ts = body
        .as_object_mut()
        .unwrap()
        .remove("timestamp_unix_nano")
        .unwrap();
    assert!(ts.as_u64().unwrap() > 1_700_000_000_000_000_000);
    assert_eq!(
        body,
        json!({
            "id": "score-1", "name": "helpfulness", "data_type": "NUMERIC", "value": 0.75,
            "trace_id": expected_trace.0, "span_id": expected_trace.1, "session_id": "sess-9",
            "comment": "good", "source": "EVAL", "metadata": {"judge": "gpt-4o"}
        })
    );
    assert_eq!(expected_trace.0.len(), 32);

    // A rejected score is an error carrying the status and body.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = format!("http://{}", listener.local_addr().unwrap());
    let server = one_request(listener, "400 Bad Request");
    drop(obs);
    drop(guard); // its span's export to the closed port fails; that is not what this test checks
    let _guard = spanlens::builder()
        .endpoint("http://127.0.0.1:9")
        .http_endpoint(&http)
        .init()
        .unwrap();
    let err = spanlens::score(Score::categorical("tone", "warm"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400 Bad Request: nope"), "{err}");
    let (_, _, body) = server.join().unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (body["data_type"].as_str(), body["string_value"].as_str()),
        (Some("CATEGORICAL"), Some("warm"))
    );
    assert!(body.get("value").is_none() && body.get("trace_id").is_none());
    assert_eq!(body["id"].as_str().unwrap().len(), 32);
}
