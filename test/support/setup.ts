// The SDK warns that its 2027 releases need Node 22; tests here run on Node 20 by design.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
