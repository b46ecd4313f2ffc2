// The SDK warns that its 2027 releases need Node 22; tests here run on Node 20 by design.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
// Tests never talk to AWS: fake credentials for the SDK clients pointed at dynalite.
process.env['AWS_REGION'] = 'local';
process.env['AWS_ACCESS_KEY_ID'] = 'local';
process.env['AWS_SECRET_ACCESS_KEY'] = 'local';
delete process.env['AWS_PROFILE'];
