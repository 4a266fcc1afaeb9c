// keyhole's sample JVM workload (the demo starts it with `java JvmWorkload.java` when a JDK is
// installed): a "service" that keeps its API key from the environment in its heap, concatenated
// into a header value, and a few busy threads. Prints {"ready":true,"pid":N} once started.
import java.util.ArrayList;
import java.util.List;

public class JvmWorkload {
    static final List<String> HEADERS = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        String apiKey = System.getenv("DEMO_API_KEY");
        HEADERS.add("Authorization: ApiKey " + apiKey);
        for (int i = 0; i < 1000; i++) HEADERS.add("order-" + i + " status=shipped");
        for (int t = 0; t < 2; t++) {
            Thread worker = new Thread(() -> {
                while (true) {
                    try { Thread.sleep(50); } catch (InterruptedException e) { return; }
                }
            }, "order-worker-" + t);
            worker.setDaemon(true);
            worker.start();
        }
        System.out.println("{\"ready\":true,\"pid\":" + ProcessHandle.current().pid() + "}");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
